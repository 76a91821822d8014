"""Options from a TOML file and LOGOUT_MIDDLEWARE_* variables, converted by the config's own annotations."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytest

from logout_middleware import ConfigError, CookieSpec, LogoutConfig
from logout_middleware.config import mask_url_password
from logout_middleware.settings import (
    ENV_PREFIX,
    _as_env_text,
    _as_toml,
    _convert,
    _default,
    _Invalid,
    _option_types,
    env_name,
    load_config,
    read_environ,
    read_toml,
    render_config,
)
from logout_middleware.stores import MemoryStore

ENDPOINT = "https://op.example/end"
BASE = {"LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT": ENDPOINT}


def from_toml(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "logout.toml"
    path.write_text(text)
    return read_toml(path)


def test_every_option_has_a_variable() -> None:
    assert env_name("cookie_domain") == "LOGOUT_MIDDLEWARE_COOKIE_DOMAIN"
    assert ENV_PREFIX == "LOGOUT_MIDDLEWARE_"
    # Read from the dataclass, so an option added later needs no change here.
    shown = render_config(LogoutConfig(end_session_endpoint=ENDPOINT), style="env")
    names = [line.partition("=")[0] for line in shown.splitlines()]
    assert names == [env_name(field.name) for field in dataclasses.fields(LogoutConfig)]


@pytest.mark.parametrize(
    ("variable", "text", "value"),
    [
        pytest.param("ISSUER", "https://op.example", "https://op.example", id="str"),
        pytest.param("CLIENT_SECRET", " spaced ", " spaced ", id="str-kept-as-is"),
        pytest.param("COOKIE_DOMAIN", "", None, id="optional-empty-is-none"),
        pytest.param("REDIRECT_PARAM", "", None, id="optional-with-default-unset"),
        pytest.param("STATE_MAX_AGE", " 120 ", 120, id="int"),
        pytest.param("DISCOVERY_TTL", "2.5", 2.5, id="float"),
        pytest.param("HTTP_TIMEOUT", "3", 3.0, id="float-from-whole"),
        pytest.param("CLEAR_SITE_DATA", "yes", True, id="bool-yes"),
        pytest.param("CLEAR_SITE_DATA", "TRUE", True, id="bool-true"),
        pytest.param("CLEAR_SITE_DATA", "1", True, id="bool-1"),
        pytest.param("BLOCK_CROSS_SITE", "no", False, id="bool-no"),
        pytest.param("BLOCK_CROSS_SITE", "false", False, id="bool-false"),
        pytest.param("BLOCK_CROSS_SITE", "0", False, id="bool-0"),
        pytest.param("METHODS", "GET, POST", ("GET", "POST"), id="tuple"),
        pytest.param("ALLOWED_REDIRECT_URIS", "", (), id="tuple-empty"),
        pytest.param(
            "ALLOWED_REDIRECT_URIS", "https://a.example/,", ("https://a.example/",), id="tuple-trailing-comma"
        ),
        pytest.param("COOKIE_SAMESITE", "strict", "Strict", id="literal-any-case"),
        pytest.param(
            "EXTRA_PARAMS", "prompt=login, tenant=de fr", (("prompt", "login"), ("tenant", "de fr")), id="pairs"
        ),
        pytest.param("EXTRA_PARAMS", "a=", (("a", ""),), id="pairs-empty-value"),
        pytest.param("CLEAR_COOKIES", "session", ("session",), id="cookie-name"),
        pytest.param(
            "CLEAR_COOKIES",
            "session,sso::example.com,api:/api:,x:/a:b:c.example",
            (
                "session",
                CookieSpec("sso", domain="example.com"),
                CookieSpec("api", path="/api"),
                CookieSpec("x", path="/a:b", domain="c.example"),
            ),
            id="cookie-specs",
        ),
        pytest.param("REVOCATION_STORE", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", id="any-as-text"),
        pytest.param("LOGOUT_TOKEN_MAX_AGE_WITHOUT_EXP", "", None, id="optional-int-empty"),
        pytest.param("LOGOUT_TOKEN_MAX_AGE_WITHOUT_EXP", "300", 300, id="optional-int"),
    ],
)
def test_environment_values(variable: str, text: str, value: object) -> None:
    name = variable.lower()
    assert read_environ({ENV_PREFIX + variable: text}) == {name: value}


@pytest.mark.parametrize(
    ("toml", "options"),
    [
        pytest.param('issuer = "https://op.example"', {"issuer": "https://op.example"}, id="str"),
        pytest.param('cookie_domain = ""', {"cookie_domain": None}, id="optional-empty-is-none"),
        pytest.param("state_max_age = 120", {"state_max_age": 120}, id="int"),
        pytest.param("discovery_ttl = 60", {"discovery_ttl": 60.0}, id="float-from-int"),
        pytest.param("clear_site_data = true", {"clear_site_data": True}, id="bool"),
        pytest.param('methods = ["GET"]', {"methods": ("GET",)}, id="list"),
        pytest.param('cookie_samesite = "none"', {"cookie_samesite": "None"}, id="literal-any-case"),
        pytest.param(
            'extra_params = {prompt = "login", "ui.locales" = "de"}',
            {"extra_params": (("prompt", "login"), ("ui.locales", "de"))},
            id="pairs-table",
        ),
        pytest.param(
            'extra_params = [["a", "1"], ["a", "2"]]', {"extra_params": (("a", "1"), ("a", "2"))}, id="pairs-repeated"
        ),
        pytest.param(
            'clear_cookies = ["session", {name = "sso", domain = "example.com"}, {name = "api", path = "/api"}]',
            {"clear_cookies": ("session", CookieSpec("sso", domain="example.com"), CookieSpec("api", path="/api"))},
            id="cookie-specs",
        ),
        pytest.param('revocation_store = "memory://"', {"revocation_store": "memory://"}, id="any"),
    ],
)
def test_toml_values(tmp_path: Path, toml: str, options: dict[str, Any]) -> None:
    assert from_toml(tmp_path, toml) == options


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "logout.toml"
    path.write_text(f'end_session_endpoint = "{ENDPOINT}"\ncookie_domain = "a.example"\nclear_site_data = true\n')
    config = load_config(path, environ={"LOGOUT_MIDDLEWARE_COOKIE_DOMAIN": "b.example", "UNRELATED": "x"})
    assert (config.end_session_endpoint, config.cookie_domain, config.clear_site_data) == (ENDPOINT, "b.example", True)
    assert load_config(path, environ={"LOGOUT_MIDDLEWARE_COOKIE_DOMAIN": ""}).cookie_domain is None


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT", ENDPOINT)
    assert load_config().end_session_endpoint == ENDPOINT
    assert read_environ()["end_session_endpoint"] == ENDPOINT


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"LOGOUT_MIDDLEWARE_COOKIE_DOMIAN": "x"},
            "unknown environment variable LOGOUT_MIDDLEWARE_COOKIE_DOMIAN;"
            " did you mean LOGOUT_MIDDLEWARE_COOKIE_DOMAIN?",
            id="misspelt",
        ),
        pytest.param(
            {"logout_middleware_issuer": "x"},
            "unknown environment variable logout_middleware_issuer; did you mean LOGOUT_MIDDLEWARE_ISSUER?",
            id="lower-case",
        ),
        pytest.param({"LOGOUT_MIDDLEWARE_": "x"}, "unknown environment variable LOGOUT_MIDDLEWARE_", id="prefix-only"),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_STATE_MAX_AGE": "10m"},
            "LOGOUT_MIDDLEWARE_STATE_MAX_AGE: expected a whole number, got '10m'",
            id="int",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_DISCOVERY_TTL": ""}, "LOGOUT_MIDDLEWARE_DISCOVERY_TTL: expected a number", id="float"
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_CLEAR_SITE_DATA": "on"},
            "LOGOUT_MIDDLEWARE_CLEAR_SITE_DATA: expected true or false (also 1, 0, yes, no), got 'on'",
            id="bool",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_COOKIE_SAMESITE": "sometimes"},
            "LOGOUT_MIDDLEWARE_COOKIE_SAMESITE: expected one of 'Lax', 'Strict', 'None', got 'sometimes'",
            id="literal",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_EXTRA_PARAMS": "prompt"},
            "LOGOUT_MIDDLEWARE_EXTRA_PARAMS: expected name=value pairs separated by commas",
            id="pairs",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_CLEAR_COOKIES": "ok,bad name"},
            "LOGOUT_MIDDLEWARE_CLEAR_COOKIES: clear_cookies must be a cookie name",
            id="cookie-name",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_CLEAR_COOKIES": "sso:/path"},
            "LOGOUT_MIDDLEWARE_CLEAR_COOKIES: 'sso:/path' is not name:path:domain (leave path or domain empty",
            id="cookie-two-parts",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_CLEAR_COOKIES": "sso::not a domain"},
            "LOGOUT_MIDDLEWARE_CLEAR_COOKIES: CookieSpec('sso').domain must be a host name",
            id="cookie-domain",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_ISSUER": "http://op.example"},
            "LOGOUT_MIDDLEWARE_ISSUER: issuer must be an https:// URL",
            id="refused-by-the-config",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_LOGOUT_CALLBACK_PATH": "/logout"},
            "LOGOUT_MIDDLEWARE_LOGOUT_CALLBACK_PATH: logout_callback_path must differ from logout_path",
            id="config-names-the-first-option",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_PROVIDER": "auth0"},
            "client_id is required with provider='auth0'",
            id="missing-option-not-attributed",
        ),
    ],
)
def test_environment_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(environ={**BASE, **environ})
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param("isuer = 'x'", "key 'isuer' is not an option; did you mean issuer?", id="misspelt"),
        pytest.param("[logout]\nissuer = 'x'", "key 'logout' is not an option", id="section"),
        pytest.param(
            "state_max_age = '600'", "key 'state_max_age': expected a whole number, got '600'", id="quoted-int"
        ),
        pytest.param("state_max_age = 1.5", "key 'state_max_age': expected a whole number", id="float-for-int"),
        pytest.param("discovery_ttl = true", "key 'discovery_ttl': expected a number", id="bool-for-float"),
        pytest.param("clear_site_data = 'yes'", "key 'clear_site_data': expected true or false", id="quoted-bool"),
        pytest.param("issuer = 1", "key 'issuer': expected a string, got 1", id="int-for-str"),
        pytest.param("methods = 'GET'", "key 'methods': expected a list", id="str-for-list"),
        pytest.param("methods = ['GET', 1]", "key 'methods': item 2 (1): expected a string", id="list-item"),
        pytest.param("extra_params = 'a=b'", "key 'extra_params': expected a table", id="str-for-pairs"),
        pytest.param("extra_params = {a = 1}", "key 'extra_params': expected string values", id="pairs-value"),
        pytest.param(
            "clear_cookies = [{name = 'a', secure = true}]",
            "key 'clear_cookies': item 1 ({'name': 'a', 'secure': True}): expected a table {name",
            id="cookie-table-key",
        ),
        pytest.param(
            "clear_cookies = [{name = 'a', path = 1}]",
            "key 'clear_cookies': item 1 ({'name': 'a', 'path': 1}): expected path and domain as strings",
            id="cookie-table-type",
        ),
        pytest.param("client_secret = 5", "key 'client_secret': expected a string, got ***", id="secret-not-shown"),
        pytest.param("issuer = 'http://op.example'", "key 'issuer': issuer must be an https:// URL", id="refused"),
        pytest.param("issuer = ", "is not valid TOML", id="syntax"),
    ],
)
def test_toml_errors_name_the_file_and_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "logout.toml"
    path.write_text(f'end_session_endpoint = "{ENDPOINT}"\n{toml}\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read the configuration file .*missing\.toml: No such file"):
        load_config(tmp_path / "missing.toml", environ={})


def test_a_password_in_a_url_is_not_repeated_in_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        read_environ({"LOGOUT_MIDDLEWARE_STATE_MAX_AGE": "redis://:hunter2@h/0"})
    assert "hunter2" not in str(raised.value)
    assert "redis://:***@h/0" in str(raised.value)


# -- rendering ----------------------------------------------------------------------

#: A config with every kind of value away from its default.
RICH = LogoutConfig(
    end_session_endpoint=ENDPOINT,
    issuer="https://op.example",
    client_id="rp",
    discovery_ttl=60.0,
    methods=("GET",),
    allowed_redirect_uris=("https://a.example/bye", 'https://a.example/"quoted"'),
    redirect_param=None,
    extra_params=(("prompt", "login"), ("tenant", "de fr"), ("odd", 'back\\slash "quote" \u00e9')),
    clear_cookies=("session", CookieSpec("sso", domain="example.com"), CookieSpec("api", path="/api"), CookieSpec("b")),
    cookie_domain="example.com",
    cookie_samesite="Strict",
    clear_site_data=True,
    state_max_age=120,
    forward_auth_path="/auth",
    revocation_store="sqlite:///revocations.db",
    signing_algorithms=("RS256", "ES256"),
    logout_token_max_age_without_exp=300,
)


def test_toml_rendering_reads_back_to_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "shown.toml"
    path.write_text(render_config(RICH))
    assert load_config(path, environ={}) == RICH


def test_env_rendering_reads_back_to_the_same_config() -> None:
    lines = render_config(RICH, style="env").splitlines()
    environ = dict(line.split("=", 1) for line in lines)
    assert load_config(environ=environ) == RICH


def test_toml_rendering_marks_defaults_and_unset_options() -> None:
    shown = render_config(RICH).splitlines()
    assert 'end_session_endpoint = "https://op.example/end"' in shown
    assert 'logout_path = "/logout"  # default' in shown
    assert 'provider = ""  # not set' in shown
    assert 'redirect_param = ""  # not set' in shown
    assert (
        'extra_params = {"prompt" = "login", "tenant" = "de fr", "odd" = "back\\\\slash \\"quote\\" \\u00e9"}' in shown
    )
    cookies = '["session", {name = "sso", domain = "example.com"}, {name = "api", path = "/api"}, {name = "b"}]'
    assert f"clear_cookies = {cookies}" in shown


def test_rendering_masks_secrets_and_url_passwords() -> None:
    config = dataclasses.replace(RICH, client_secret="s3cret", revocation_store="redis://user:pw@redis.example:6379/0")
    for style in ("toml", "env"):
        shown = render_config(config, style=style)
        assert "s3cret" not in shown
        assert ":pw@" not in shown
        assert "redis://user:***@redis.example:6379/0" in shown
    assert 'client_secret = "***"' in render_config(config)
    for kept in ("redis://user@h:6379/0", "sqlite:///at@sign.db"):
        assert f"revocation_store = {json.dumps(kept)}" in render_config(
            dataclasses.replace(RICH, revocation_store=kept)
        )
    # A URL that cannot be parsed is refused by the config; the masking leaves it as it is, never raising.
    assert mask_url_password("redis://[::1/broken@x") == "redis://[::1/broken@x"
    assert "LOGOUT_MIDDLEWARE_CLIENT_SECRET=***" in render_config(config, style="env")


def test_values_without_a_text_form_are_shown_as_comments() -> None:
    class Store(MemoryStore):
        def __repr__(self) -> str:
            return "Store()"

    config = dataclasses.replace(RICH, revocation_store=Store(), allowed_redirect_uris=("https://a.example/?a=1,2",))
    assert "# revocation_store: a Store object, which has no text form" in render_config(config).splitlines()
    env = render_config(config, style="env").splitlines()
    assert "# allowed_redirect_uris: holds a comma or an empty item, so it can only be written in the TOML file" in env


# -- options added later: every kind of type the converter knows -----------------


@pytest.mark.parametrize(
    ("hint", "env", "toml", "value"),
    [
        pytest.param(Mapping[str, str], "a=1,b=2", {"a": "1", "b": "2"}, {"a": "1", "b": "2"}, id="mapping"),
        pytest.param(dict[str, str], "a=1", {"a": "1"}, {"a": "1"}, id="dict"),
        pytest.param(tuple[int, ...], "1, 2", [1, 2], (1, 2), id="tuple-of-int"),
        pytest.param(float | None, "", "", None, id="optional-float-unset"),
        pytest.param(bool | None, "yes", True, True, id="optional-bool"),
        pytest.param(Literal[1, "a"], "A", "a", "a", id="literal-mixed"),
        pytest.param(Any, "text", ["any", "toml"], None, id="any"),
    ],
)
def test_types_an_option_added_later_may_have(hint: Any, env: str, toml: object, value: object) -> None:
    assert _convert(env, hint, from_env=True) == (env if hint is Any else value)
    assert _convert(toml, hint, from_env=False) == (toml if hint is Any else value)


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        pytest.param(tuple[str, int], "options of type tuple[str, int] cannot be set", id="fixed-tuple"),
        pytest.param(complex, "options of type complex cannot be set", id="other-type"),
        pytest.param(int | float, "expected a whole number or expected a number", id="union-without-str"),
    ],
)
def test_types_without_a_text_form(hint: Any, message: str) -> None:
    with pytest.raises(_Invalid, match=re.escape(message)):
        _convert("x", hint, from_env=True)


def test_mappings_are_written_as_tables() -> None:
    assert _as_toml({"a": "1"}) == '{"a" = "1"}'
    assert _as_env_text({"a": "1", "b": "2"}) == "a=1,b=2"


def test_defaults_from_a_factory() -> None:
    @dataclasses.dataclass
    class Later:
        names: list[str] = dataclasses.field(default_factory=lambda: ["a"])

    assert _default(dataclasses.fields(Later)[0]) == ["a"]


def test_annotations_that_cannot_be_resolved() -> None:
    @dataclasses.dataclass
    class Broken:
        store: Undefined = None  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigError, match="the types of the config's options cannot be read: name 'Undefined'"):
        _option_types(Broken)
