"""Behaviour tables: each row a request and the one answer promised for it, read off the raw wire.

A table is a list of ``pytest.param(Case(...), Answer(...), id=...)``, run by a
test that takes the ``kind`` fixture, so every row runs against the WSGI and the
ASGI adapter alike (tests/test_servers.py runs the /logout table against real
servers too).  A row reads as a line of the specification:

.. code-block:: python

    pytest.param(
        Case("GET", "/logout/callback?state=forged", {"Cookie": "{state_cookie}"}, before=[LOGOUT]),
        Answer(400, body=b"Bad Request: this logout link is not valid any more\\n"),
        id="forged-state",
    )

:class:`Case` is the request (and the requests sent before it, each with the
status it must get); :class:`Answer` is everything the row promises: the
status, every ``Set-Cookie`` line in order, the parsed ``Location``,
``Cache-Control``, and whatever further headers or body it names.  An answer
never says "either of".

Strings in a Case or an Answer may name values known only when the row runs,
in ``str.format`` fields (write a literal brace twice): ``{issuer}`` the
stand-in provider, ``{host}`` the Host the request is sent to,
``{id_token[name]}`` and ``{logout_token[name]}`` tokens minted by the
table's own recipes (the same name gives the same token within one row),
and ``{state}`` and ``{state_cookie}`` (the ``name=value`` pair), learned
from the last answer before that carried them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.provider import StubState
from tests.support.transports import Raw, Send, middleware_sender

__all__ = [
    "EXPIRED",
    "FORM",
    "Answer",
    "Case",
    "Minted",
    "Values",
    "deletion",
    "prepare_provider",
    "row_sender",
    "run_case",
]

EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def deletion(name: str, *, path: str = "/", domain: str | None = None, secure: bool = False) -> str:
    """The ``Set-Cookie`` line that deletes *name*, as the middleware writes it (SameSite=Lax)."""
    where = f"Path={path}" + (f"; Domain={domain}" if domain else "")
    return f"{name}=; {EXPIRED}; {where}; {'Secure; ' if secure else ''}HttpOnly; SameSite=Lax"


class Minted(Mapping[str, str]):
    """Tokens by recipe name, each minted once per row: ``{id_token[live]}`` twice is the same token."""

    def __init__(self, recipes: Mapping[str, Callable[[str], str]], issuer: str) -> None:
        self._recipes = recipes
        self._issuer = issuer
        self._minted: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._minted:
            if name not in self._recipes:
                raise KeyError(f"no token recipe named {name!r}; the table has {sorted(self._recipes)}")
            self._minted[name] = self._recipes[name](self._issuer)
        return self._minted[name]

    def __iter__(self) -> Any:
        return iter(self._recipes)

    def __len__(self) -> int:
        return len(self._recipes)


class Values(dict[str, Any]):
    """What the fields of one row's strings name; see the module's docstring."""

    def __init__(
        self,
        *,
        issuer: str = "",
        host: str = "app.example",
        id_tokens: Mapping[str, Callable[[str], str]] | None = None,
        logout_tokens: Mapping[str, Callable[[str], str]] | None = None,
        **more: Any,
    ) -> None:
        super().__init__(
            issuer=issuer,
            host=host,
            id_token=Minted(id_tokens or {}, issuer),
            logout_token=Minted(logout_tokens or {}, issuer),
            **more,
        )

    def render(self, text: str) -> str:
        return text.format_map(self)

    def learn(self, response: Raw) -> None:
        """Keep the ``state`` of a Location and the state cookie of the Set-Cookie lines, for the next request."""
        location = response.get("Location")
        if location:
            state = dict(parse_qsl(urlsplit(location).query)).get("state")
            if state:
                self["state"] = state
        for line in response.get_all("Set-Cookie"):
            pair = line.partition(";")[0]
            if pair.startswith("logout_state=") and pair != "logout_state=":
                self["state_cookie"] = pair


@dataclass(frozen=True)
class Case:
    """One request of a row, and what must come before it."""

    method: str = "GET"
    #: The raw path and query, as the browser sends it (below the mount point when ``root_path`` is set).
    target: str = "/logout"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: A string is formatted with the row's values and sent as UTF-8; bytes are sent as they are.
    body: str | bytes = b""
    #: Requests sent first, each with the status it must get (their answers teach the row ``{state}``...).
    before: Sequence[tuple[Case, int]] = ()
    scheme: str = "http"
    #: Where the app is mounted: ``SCRIPT_NAME`` for WSGI, the scope's ``root_path`` for ASGI.
    root_path: str = ""
    #: Middleware options of this row, over the table's own.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: What the stand-in provider is told before the row runs: fields of its StubState.
    provider: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """Everything a row promises about its answer; what it does not name it does not promise."""

    status: int
    #: Every Set-Cookie line, in order: none unless named.
    set_cookies: Sequence[str] = ()
    #: The Location, compared parsed (scheme, host, path, every query pair in order); None: no Location.
    location: str | None = None
    #: None: no Cache-Control.
    cache_control: str | None = "no-store"
    #: More headers, each with its exact value, or None for "not sent".
    headers: Mapping[str, str | None] = field(default_factory=dict)
    #: The exact body (a string is formatted and encoded as UTF-8); None: not looked at.
    body: str | bytes | None = None
    #: The body, parsed as JSON; None: not looked at.
    json: Any = None
    #: The Cookie header the wrapped app saw ("" for none); None: the app must not have been called.
    app_cookie: str | None = None

    def check(self, response: Raw, values: Values) -> None:
        assert response.status == self.status, (response.status, response.body[:300])
        assert response.get_all("Set-Cookie") == [values.render(line) for line in self.set_cookies]
        if self.location is None:
            assert response.get("Location") is None
        else:
            assert _parsed(response.get("Location") or "") == _parsed(values.render(self.location))
        assert response.get("Cache-Control") == self.cache_control
        for name, value in self.headers.items():
            assert response.get(name) == (values.render(value) if value is not None else None), name
        if self.body is not None:
            body = self.body if isinstance(self.body, bytes) else values.render(self.body).encode()
            assert response.body == body
        if self.json is not None:
            assert json.loads(response.body) == self.json
        if self.app_cookie is None:
            assert response.get("X-App") is None, "the wrapped app must not be called"
        else:
            assert response.get("X-App") == "echo", "the wrapped app must be called"
            seen = response.body.decode("latin-1").partition(" cookie=")[2]
            # An ASGI app gets no Cookie header at all when nothing is left; a WSGI app gets an empty one.
            assert ("" if seen == "None" else seen) == values.render(self.app_cookie)


def _parsed(location: str) -> tuple[str, str, str, list[tuple[str, str]], str]:
    parts = urlsplit(location)
    return parts.scheme, parts.netloc, parts.path, parse_qsl(parts.query, keep_blank_values=True), parts.fragment


def run_case(send: Send, case: Case, values: Values) -> Raw:
    """Send the requests that come before *case*, checking their statuses, then *case*; return its answer."""
    for earlier, status in case.before:
        response = _send(send, earlier, values)
        assert response.status == status, (earlier.method, earlier.target, response.status, response.body[:300])
        values.learn(response)
    return _send(send, case, values)


def _send(send: Send, case: Case, values: Values) -> Raw:
    headers = {name: values.render(value) for name, value in case.headers.items()}
    body = case.body if isinstance(case.body, bytes) else values.render(case.body).encode()
    return send(case.method, values.render(case.target), headers, body)


def row_sender(kind: str, case: Case, **options: Any) -> Send:
    """A sender for the *kind* adapter with the table's *options* and the row's own, scheme and mount point."""
    return middleware_sender(kind, scheme=case.scheme, root_path=case.root_path, **{**options, **case.options})


def prepare_provider(stub: StubState, case: Case) -> None:
    """Set the stand-in provider (shared by a table's rows) as a fresh one, with the row's settings."""
    fresh = StubState(issuer=stub.issuer, client_id=stub.client_id)
    for setting in dataclasses.fields(StubState):
        setattr(stub, setting.name, getattr(fresh, setting.name))
    for name, value in case.provider.items():
        assert hasattr(stub, name), f"the stand-in provider has no setting {name!r}"
        setattr(stub, name, value)
