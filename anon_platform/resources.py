"""Dagster resources: where the platform's workspace (ANON_HOME) lives."""

import dagster as dg

from anon_platform.storage import Zones, anon_home


class AnonHome(dg.ConfigurableResource):
    """The ANON_HOME folder holding the restricted and release zones.

    Empty `path` means $ANON_HOME, else ./.anon.
    """

    path: str = ""

    def zones(self) -> Zones:
        return Zones(anon_home(self.path or None))
