"""build_logout_url and the URL checks, as tables and as properties."""

from __future__ import annotations

import string
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logout_middleware import (
    InvalidParameterError,
    InvalidTokenError,
    InvalidURLError,
    LogoutError,
    build_logout_url,
)

JWS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
JWE = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn"
END = "https://example.authing.cn/oidc/session/end"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"redirect_uri": "https://example.com/homepage", "id_token": JWS, "state": "some-random-string"},
            f"{END}?post_logout_redirect_uri=https%3A%2F%2Fexample.com%2Fhomepage&id_token_hint={JWS}"
            "&state=some-random-string",
            id="authing-documented-example",
        ),
        pytest.param({}, END, id="nothing-to-send"),
        pytest.param({"id_token": JWS}, f"{END}?id_token_hint={JWS}", id="hint-only"),
        pytest.param({"id_token": JWE}, f"{END}?id_token_hint={JWE}", id="jwe-hint"),
        pytest.param(
            {"redirect_uri": "https://a.example/cb?x=1&y=a%20b", "client_id": "c 1"},
            f"{END}?post_logout_redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1%26y%3Da%2520b&client_id=c%201",
            id="values-are-encoded",
        ),
        pytest.param(
            {
                "ui_locales": "fr-CA en",
                "logout_hint": "alice@example.com",
                "client_id": "app",
                "state": "s",
                "id_token": JWS,
                "redirect_uri": "https://a.example/",
                "extra_params": {"prompt": "none", "skip": None, "é": "ü"},
            },
            f"{END}?post_logout_redirect_uri=https%3A%2F%2Fa.example%2F&id_token_hint={JWS}&state=s&client_id=app"
            "&logout_hint=alice%40example.com&ui_locales=fr-CA%20en&prompt=none&%C3%A9=%C3%BC",
            id="fixed-order-then-extras",
        ),
        pytest.param(
            {"extra_params": [("a", "1"), ("a", "2")]},
            f"{END}?a=1&a=2",
            id="extras-as-pairs",
        ),
    ],
)
def test_builds(kwargs: dict[str, object], expected: str) -> None:
    assert build_logout_url(END, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        pytest.param("https://op.example/end?tenant=a", "https://op.example/end?tenant=a&state=s", id="keeps-query"),
        pytest.param("https://op.example/end?tenant=a&", "https://op.example/end?tenant=a&state=s", id="trailing-amp"),
        pytest.param("https://op.example/end?", "https://op.example/end?state=s", id="empty-query"),
        pytest.param("http://127.0.0.1:8080/end", "http://127.0.0.1:8080/end?state=s", id="http-localhost"),
    ],
)
def test_endpoint_query_is_kept(endpoint: str, expected: str) -> None:
    assert build_logout_url(endpoint, state="s") == expected


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "error", "names"),
    [
        pytest.param("/session/end", {}, InvalidURLError, "end_session_endpoint", id="relative-endpoint"),
        pytest.param("ftp://op.example/end", {}, InvalidURLError, "end_session_endpoint", id="ftp-endpoint"),
        pytest.param("https:///end", {}, InvalidURLError, "end_session_endpoint", id="no-host"),
        pytest.param("https://op.example/end#x", {}, InvalidURLError, "end_session_endpoint", id="endpoint-fragment"),
        pytest.param("https://op.example:99999/end", {}, InvalidURLError, "end_session_endpoint", id="bad-port"),
        pytest.param("https://u:p@op.example/end", {}, InvalidURLError, "end_session_endpoint", id="userinfo"),
        pytest.param("https://op.example/e\r\nX: y", {}, InvalidURLError, "end_session_endpoint", id="crlf"),
        pytest.param("https://op.exämple/end", {}, InvalidURLError, "end_session_endpoint", id="non-ascii"),
        pytest.param(b"https://op.example/end", {}, InvalidURLError, "end_session_endpoint", id="bytes-endpoint"),
        pytest.param(
            END,
            {"redirect_uri": "https://a.example/cb"},
            InvalidParameterError,
            "redirect_uri",
            id="redirect-without-hint-or-client",
        ),
        pytest.param(
            END,
            {"redirect_uri": "https://a.example/cb#f", "client_id": "c"},
            InvalidURLError,
            "redirect_uri",
            id="redirect-fragment",
        ),
        pytest.param(
            END, {"redirect_uri": "/cb", "client_id": "c"}, InvalidURLError, "redirect_uri", id="relative-redirect"
        ),
        pytest.param(
            END,
            {"redirect_uri": "javascript:alert(1)", "client_id": "c"},
            InvalidURLError,
            "redirect_uri",
            id="javascript-redirect",
        ),
        pytest.param(
            END,
            {"redirect_uri": "https://a.example/a b", "client_id": "c"},
            InvalidURLError,
            "redirect_uri",
            id="space-in-redirect",
        ),
        pytest.param(
            END, {"redirect_uri": 5, "client_id": "c"}, InvalidURLError, "redirect_uri", id="redirect-not-str"
        ),
        pytest.param(END, {"id_token": "abc"}, InvalidTokenError, "id_token", id="one-segment"),
        pytest.param(END, {"id_token": "eyJ.eyJ"}, InvalidTokenError, "id_token", id="two-segments"),
        pytest.param(END, {"id_token": "eyJ.a.b.c"}, InvalidTokenError, "id_token", id="four-segments"),
        pytest.param(END, {"id_token": "eyJhbGci..c2ln"}, InvalidTokenError, "id_token", id="empty-payload"),
        pytest.param(END, {"id_token": "eyJhbGci.eyJz dWIi.c2ln"}, InvalidTokenError, "id_token", id="space"),
        pytest.param(END, {"id_token": "eyJhbGci.eyJz+dWIi.c2ln"}, InvalidTokenError, "id_token", id="base64-plus"),
        pytest.param(END, {"id_token": "abJhbGci.eyJzdWIi.c2ln"}, InvalidTokenError, "id_token", id="not-json"),
        pytest.param(
            END, {"id_token": "eyJhbGci.eyJzdWIiA.c2ln"}, InvalidTokenError, "id_token", id="impossible-length"
        ),
        pytest.param(END, {"id_token": 123}, InvalidTokenError, "id_token", id="token-not-str"),
        pytest.param(END, {"state": ""}, InvalidParameterError, "state", id="empty-state"),
        pytest.param(END, {"state": "a\nb"}, InvalidParameterError, "state", id="newline-state"),
        pytest.param(END, {"state": "\ud800"}, InvalidParameterError, "state", id="lone-surrogate"),
        pytest.param(END, {"client_id": "\x00"}, InvalidParameterError, "client_id", id="nul-client-id"),
        pytest.param(END, {"logout_hint": 1}, InvalidParameterError, "logout_hint", id="int-hint"),
        pytest.param(END, {"ui_locales": "en\x7f"}, InvalidParameterError, "ui_locales", id="del-locales"),
        pytest.param(
            END, {"extra_params": {"state": "x"}}, InvalidParameterError, "extra_params", id="extra-shadows-standard"
        ),
        pytest.param(END, {"extra_params": {"a": "\r"}}, InvalidParameterError, "extra_params", id="extra-crlf"),
        pytest.param(END, {"extra_params": {"": "x"}}, InvalidParameterError, "extra_params", id="extra-empty-name"),
    ],
)
def test_bad_values_raise_naming_the_argument(
    endpoint: object, kwargs: dict[str, object], error: type[LogoutError], names: str
) -> None:
    with pytest.raises(error, match=names) as raised:
        build_logout_url(endpoint, **kwargs)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)


TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
SEGMENT = st.text(string.ascii_letters + string.digits + "-_", min_size=2, max_size=60).filter(
    lambda s: len(s) % 4 != 1
)
TOKENS = st.builds(lambda h, p, s: f"eyJ{h}.{p}.{s}", SEGMENT.filter(lambda s: len(s) % 4 != 2), SEGMENT, SEGMENT)
REDIRECTS = st.builds(
    lambda host, path, query: f"https://{host}.example/{path}" + (f"?{query}" if query else ""),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]{0,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,30}", fullmatch=True),
)


@given(
    redirect_uri=REDIRECTS,
    id_token=TOKENS,
    state=TEXT,
    client_id=st.none() | TEXT,
    logout_hint=st.none() | TEXT,
    ui_locales=st.none() | TEXT,
    extras=st.lists(st.tuples(st.builds(lambda s: "x" + s, TEXT), TEXT), max_size=3),
    endpoint_query=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["1", "2"])), max_size=2),
)
def test_every_value_round_trips(
    redirect_uri: str,
    id_token: str,
    state: str,
    client_id: str | None,
    logout_hint: str | None,
    ui_locales: str | None,
    extras: list[tuple[str, str]],
    endpoint_query: list[tuple[str, str]],
) -> None:
    """A provider that parses the query string gets back exactly what was given, in order."""
    endpoint = "https://op.example/end" + (
        "?" + "&".join(f"{k}={v}" for k, v in endpoint_query) if endpoint_query else ""
    )
    url = build_logout_url(
        endpoint,
        redirect_uri=redirect_uri,
        id_token=id_token,
        state=state,
        client_id=client_id,
        logout_hint=logout_hint,
        ui_locales=ui_locales,
        extra_params=extras,
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "op.example", "/end", "")
    expected = [
        *endpoint_query,
        ("post_logout_redirect_uri", redirect_uri),
        ("id_token_hint", id_token),
        ("state", state),
        *[
            (name, value)
            for name, value in [("client_id", client_id), ("logout_hint", logout_hint), ("ui_locales", ui_locales)]
            if value is not None
        ],
        *extras,
    ]
    assert parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True) == expected
    # Nothing in the query could end it early or split a header.
    assert not any(char in parts.query for char in "#\r\n \x00")


@given(st.text(max_size=50))
def test_any_text_is_either_encoded_or_refused(value: str) -> None:
    try:
        url = build_logout_url(END, state=value)
    except InvalidParameterError:
        return
    assert dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)) == {"state": value}
    assert url.isascii() and url.isprintable()
