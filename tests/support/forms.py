"""Reading the self-submitting form of a form-post logout: its method, action, fields and scripts."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["FormReader"]


class FormReader(HTMLParser):
    """Feed it the page; then ``method``, ``action``, ``fields`` in order, and how many ``<script>`` tags."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.method = ""
        self.fields: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action, self.method = values["action"], values["method"]
        elif tag == "input":
            self.fields.append((values["name"], values["value"]))
        elif tag == "script":
            self.scripts += 1
