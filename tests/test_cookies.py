from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logout_middleware import ConfigError, CookieSpec
from logout_middleware.web.cookies import deletion_header, read_cookie

EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    ("header", "name", "expected"),
    [
        pytest.param("id_token=abc", "id_token", "abc", id="single"),
        pytest.param("a=1; id_token=abc; b=2", "id_token", "abc", id="middle"),
        pytest.param("a=1;id_token=abc", "id_token", "abc", id="no-space"),
        pytest.param('id_token="abc"', "id_token", "abc", id="quoted"),
        pytest.param('id_token="', "id_token", '"', id="lone-quote-kept"),
        pytest.param("id_token=a=b", "id_token", "a=b", id="equals-in-value"),
        pytest.param("my_id_token=x; id_token=y", "id_token", "y", id="suffix-name-is-other-cookie"),
        pytest.param("id_token_2=x", "id_token", None, id="prefix-name-is-other-cookie"),
        pytest.param("id_token=first; id_token=second", "id_token", "first", id="first-wins"),
        pytest.param("id_token", "id_token", None, id="no-equals"),
        pytest.param(";;; ;=; id_token=v ;", "id_token", "v", id="garbage-around"),
        pytest.param("", "id_token", None, id="empty-header"),
        pytest.param("x=" + "y" * 100_000 + "; id_token=z", "id_token", "z", id="huge"),
    ],
)
def test_read_cookie(header: str, name: str, expected: str | None) -> None:
    assert read_cookie(header, name) == expected


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        pytest.param(
            "sid",
            {"path": "/", "domain": None, "secure": False, "samesite": "Lax"},
            f"sid=; {EXPIRED}; Path=/; HttpOnly; SameSite=Lax",
            id="host-only",
        ),
        pytest.param(
            "sid",
            {"path": "/app", "domain": "example.com", "secure": True, "samesite": "Strict"},
            f"sid=; {EXPIRED}; Path=/app; Domain=example.com; Secure; HttpOnly; SameSite=Strict",
            id="domain-path-secure",
        ),
        pytest.param(
            "__Secure-sid",
            {"path": "/", "domain": None, "secure": False, "samesite": "Lax"},
            f"__Secure-sid=; {EXPIRED}; Path=/; Secure; HttpOnly; SameSite=Lax",
            id="secure-prefix",
        ),
        pytest.param(
            "__HOST-sid",
            {"path": "/", "domain": None, "secure": False, "samesite": "Lax"},
            f"__HOST-sid=; {EXPIRED}; Path=/; Secure; HttpOnly; SameSite=Lax",
            id="host-prefix-any-case",
        ),
        pytest.param(
            "sid",
            {"path": "/", "domain": None, "secure": False, "samesite": "None"},
            f"sid=; {EXPIRED}; Path=/; Secure; HttpOnly; SameSite=None",
            id="samesite-none-needs-secure",
        ),
    ],
)
def test_deletion_header(name: str, kwargs: dict[str, object], expected: str) -> None:
    assert deletion_header(name, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        pytest.param({"name": "a b"}, "CookieSpec.name", id="space-in-name"),
        pytest.param({"name": "a;b"}, "CookieSpec.name", id="semicolon-in-name"),
        pytest.param({"name": ""}, "CookieSpec.name", id="empty-name"),
        pytest.param({"name": "a", "path": "app"}, "path", id="relative-path"),
        pytest.param({"name": "a", "path": "/a;b"}, "path", id="semicolon-path"),
        pytest.param({"name": "a", "domain": "exa mple.com"}, "domain", id="space-domain"),
        pytest.param({"name": "a", "domain": "example.com;x"}, "domain", id="semicolon-domain"),
    ],
)
def test_cookie_spec_is_validated(kwargs: dict[str, str], option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        CookieSpec(**kwargs)


def _read_by_splitting(header: str, name: str) -> str | None:
    """The plain reading of RFC 6265 section 5.4 that read_cookie's fast path must agree with."""
    for pair in header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            value = value.strip()
            return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return None


@given(
    st.lists(
        st.tuples(st.sampled_from(["id_token", "xid_token", "id_token_2", "a", " id_token", "id_token "]),
                  st.sampled_from(["=", "", "=="]),
                  st.text(alphabet='ab"=; id_token', max_size=12)),
        max_size=6,
    ),
    st.sampled_from([";", "; ", " ;"]),
)  # fmt: skip
def test_read_cookie_agrees_with_splitting(pairs: list[tuple[str, str, str]], separator: str) -> None:
    header = separator.join(name + equals + value for name, equals, value in pairs)
    assert read_cookie(header, "id_token") == _read_by_splitting(header, "id_token")
