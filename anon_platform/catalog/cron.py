"""Cron strings as Dagster schedules take them: five fields (numbers, month and weekday names,
`*`, lists, ranges, steps), or an alias such as @daily.

Checked with the catalog, so that a bad cron in releases.yml names its file and place before
any schedule is built, and without Dagster (the config layer imports no framework). Stricter
than Dagster on purpose for the non-standard extensions (`L`, `#`, `?`, wrap-around ranges).
"""

from __future__ import annotations

import re

ALIASES = frozenset(
    {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# (lowest, highest, names counted from `lowest`) of minute, hour, day of month, month, weekday
FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, MONTHS),
    (0, 7, WEEKDAYS),
)
ITEM = re.compile(r"^(?P<range>\*|[^/-]+(?:-[^/-]+)?)(?:/(?P<step>\d+))?$")


def _value(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        value = int(text)
    elif text.lower() in names:
        value = names.index(text.lower()) + low
    else:
        return None
    return value if low <= value <= high else None


def _field_values(field: str, low: int, high: int, names: tuple[str, ...]) -> set[int] | None:
    """The values a cron field selects, or None when it is not a valid field."""
    values: set[int] = set()
    for item in field.split(","):
        match = ITEM.match(item)
        if match is None:
            return None
        step = int(match["step"]) if match["step"] else 1
        if step < 1:
            return None
        if match["range"] == "*":
            start, end = low, high
        else:
            bounds = [_value(part, low, high, names) for part in match["range"].split("-")]
            if any(b is None for b in bounds):
                return None
            start, end = bounds[0], bounds[-1]
            if match["step"] and len(bounds) == 1:
                end = high
            if start > end:
                return None
        values.update(range(start, end + 1, step))
    return values


def is_valid_cron(cron: str) -> bool:
    """Whether `cron` is a schedule Dagster accepts: five valid fields, not only the 30th or
    31st of February (a day that never comes), or one of the @ aliases."""
    if cron.strip() in ALIASES:
        return True
    fields = cron.split()
    if len(fields) != len(FIELDS):
        return False
    selected = [_field_values(f, *bounds) for f, bounds in zip(fields, FIELDS, strict=True)]
    if any(values is None for values in selected):
        return False
    return not (fields[3].lower() in ("2", "feb") and fields[2] in ("30", "31"))
