"""OAuth 2.0 Token Revocation (RFC 7009): the request that revokes a token at the provider."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from ..core.values import Inbound, Outbound

__all__ = ["describe_answer", "revocation_request"]


def revocation_request(
    endpoint: str,
    token: str,
    token_type_hint: str,
    *,
    client_id: str,
    client_secret: str | None,
    auth_method: str,
    timeout: float,
) -> Outbound:
    """Build the ``POST`` that revokes *token* (RFC 7009 section 2.1)."""
    form = [("token", token), ("token_type_hint", token_type_hint)]
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
    if auth_method == "client_secret_basic" and client_secret is not None:
        # RFC 6749 section 2.3.1: both parts are form-encoded before base64.
        credentials = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
        headers.append(("Authorization", "Basic " + base64.b64encode(credentials).decode()))
    else:
        form.append(("client_id", client_id))
        if client_secret is not None:
            form.append(("client_secret", client_secret))
    return Outbound("POST", endpoint, tuple(headers), urlencode(form).encode(), timeout=timeout)


def describe_answer(answer: Inbound) -> str | None:
    """None when the provider revoked the token (or it was already invalid), else why not."""
    if answer.error is not None:
        return answer.error
    if answer.status == 200:
        return None
    return f"HTTP {answer.status}: {answer.body[:200].decode('utf-8', 'replace')!r}"
