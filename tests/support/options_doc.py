"""``docs/options.md``, made from the comments above the fields of ``LogoutConfig``.

The comments in ``logout_middleware/config.py`` are the one place the
options are described; this renders them, grouped as the class groups
them, with each option's default taken from the dataclass itself.  The
test suite checks that the committed page is what this renders; after a
change of an option, run it again::

    python -m tests.support.options_doc > docs/options.md
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import sys
from typing import Any

from logout_middleware import config as config_module
from logout_middleware.config import LogoutConfig

__all__ = ["option_comments", "render"]

_GROUP = re.compile(r"#\s*--\s*(.+?)\s*-+\s*$")


def option_comments() -> list[tuple[str, str, str]]:
    """Each option as (group, name, comment), in the order of the class."""
    source = inspect.getsource(config_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    [klass] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "LogoutConfig"]
    found = []
    for node in klass.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        comment, group, number = [], "", node.lineno - 2
        while number >= 0 and lines[number].strip().startswith("#:"):
            comment.insert(0, lines[number].strip()[2:].strip())
            number -= 1
        for earlier in range(number, -1, -1):
            match = _GROUP.search(lines[earlier])
            if match:
                group = match.group(1)
                break
        found.append((group, node.target.id, " ".join(comment)))
    return found


def _default(field: dataclasses.Field[Any]) -> str:
    value = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
    return f"`{value!r}`"


def render() -> str:
    """The whole page."""
    fields = {field.name: field for field in dataclasses.fields(LogoutConfig)}
    out = [
        "# Options",
        "",
        "Every option is a field of `LogoutConfig` (immutable, validated when built: a wrong value raises",
        "`ConfigError`, a `ValueError`, naming the option), a keyword argument of every front door, a key of the",
        "gateway's TOML file and a `LOGOUT_MIDDLEWARE_<NAME>` environment variable.",
        "",
        "This page is made from the comments in `logout_middleware/config.py`:",
        "`python -m tests.support.options_doc > docs/options.md`.",
    ]
    group = None
    for section, name, comment in option_comments():
        if section != group:
            group = section
            out += [
                "",
                f"## {section[:1].upper()}{section[1:]}",
                "",
                "| Option | Default | Meaning |",
                "| --- | --- | --- |",
            ]
        out.append(f"| `{name}` | {_default(fields[name])} | {comment} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
