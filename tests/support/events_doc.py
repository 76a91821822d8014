"""The two tables of ``docs/events.md`` (the events, and their fields), made from :mod:`logout_middleware.events`.

The registry is the one place the events are described; the test suite parses
the tables of the committed page and checks them against it.  After a change,
print them again and paste them over the old ones::

    python -m tests.support.events_doc
"""

from __future__ import annotations

import logging

from logout_middleware.events import EVENTS, FIELDS, Event

__all__ = ["events_table", "fields_table", "level_text", "values_text"]


def level_text(event: Event) -> str:
    """``WARNING``, or ``WARNING, then INFO`` for a warning given once per process."""
    text = logging.getLevelName(event.level)
    if event.repeat_level is not None:
        text += f", then {logging.getLevelName(event.repeat_level)}"
    return text


def values_text(spec: type | tuple[str, ...]) -> str:
    """``int``, or the fixed values: ```a`, `b```."""
    return spec.__name__ if isinstance(spec, type) else ", ".join(f"`{value}`" for value in spec)


def events_table() -> str:
    lines = ["| Event | Level | Fields | Meaning |", "| --- | --- | --- | --- |"]
    for event in EVENTS.values():
        fields = "; ".join(f"`{name}` ({values_text(spec)})" for name, spec in event.fields.items()) or "none"
        lines.append(f"| `{event.name}` | {level_text(event)} | {fields} | {event.meaning} |")
    return "\n".join(lines)


def fields_table() -> str:
    lines = ["| Field | What it holds |", "| --- | --- |"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in FIELDS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(events_table(), fields_table(), sep="\n\n")
