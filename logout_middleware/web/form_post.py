"""A self-submitting form that POSTs the logout parameters when the URL would be too long.

RP-Initiated Logout 1.0 section 2 lets the provider take the parameters as a
form POST; browsers, proxies and providers refuse URLs past about 8 KB, which
a large id_token alone can reach.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlsplit

__all__ = ["form_post_page"]

_SCRIPT = "document.forms[0].submit()"
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()


def form_post_page(
    action: str, fields: list[tuple[str, str]], redirect_uri: str | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    """The page and its headers: only the one inline script may run, and only *action* take the form.

    Browsers apply ``form-action`` to the redirects that follow the POST too,
    so the origin of *redirect_uri*, where the provider ends up sending the
    browser, is allowed as well.
    """
    targets = dict.fromkeys(_origin(url) for url in (action, redirect_uri) if url)
    inputs = "".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields)
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing out</title></head><body>'
        f'<form method="post" action="{escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue signing out</button></noscript></form>'
        f"<script>{_SCRIPT}</script></body></html>"
    ).encode()
    policy = (
        f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; "
        f"form-action {' '.join(targets)}; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Content-Security-Policy", policy),
        ("Referrer-Policy", "no-referrer"),
    ]
    return body, headers


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
