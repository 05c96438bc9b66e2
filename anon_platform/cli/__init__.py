"""The `anon` command line; `main` is the console-script entry point."""

from anon_platform.cli.main import main

__all__ = ["main"]
