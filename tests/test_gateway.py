"""The logout service for gateways: the ASGI app in process, and the command line."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from logout_middleware import LogoutConfig
from logout_middleware.asgi import LogoutMiddleware
from logout_middleware.gateway import DEFAULT_FORWARD_AUTH_PATH, HEALTH_PATH, build_gateway, main
from logout_middleware.stores import MemoryStore

from .support.nginx_server import TEMPLATE, TEMPLATE_ADDRESSES
from .support.provider import StubState
from .support.servers import REPO_ROOT
from .support.tokens import JWKS, id_token
from .support.transports import Send, asgi_sender, drive_asgi

ENDPOINT = "https://op.example/end"
ISSUER = "https://op.example"
#: What every gateway needs: it checks id_tokens, so it must know whose and for whom.
MINIMAL_ENV = {
    "LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT": ENDPOINT,
    "LOGOUT_MIDDLEWARE_ISSUER": ISSUER,
    "LOGOUT_MIDDLEWARE_CLIENT_ID": "rp",
}

Message = dict[str, Any]


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LOGOUT_MIDDLEWARE_* variable but those the test sets."""
    for name in list(os.environ):
        if name.upper().startswith("LOGOUT_MIDDLEWARE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def gateway(**options: Any) -> LogoutMiddleware:
    return build_gateway(LogoutConfig(**{"end_session_endpoint": ENDPOINT, "issuer": ISSUER, "client_id": "rp",
                                         **options}))  # fmt: skip


def sender(**options: Any) -> Send:
    return asgi_sender(gateway(**options))


def test_the_forward_auth_path_defaults_to_auth() -> None:
    assert DEFAULT_FORWARD_AUTH_PATH == "/auth"
    assert gateway().config.forward_auth_path == "/auth"
    assert gateway(forward_auth_path="/check").config.forward_auth_path == "/check"


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "allow"),
    [
        pytest.param("GET", "/healthz", 200, b"ok\n", None, id="health"),
        pytest.param("HEAD", "/healthz", 200, b"", None, id="health-head"),
        pytest.param("POST", "/healthz", 405, b"Method Not Allowed\n", "GET, HEAD", id="health-post"),
        pytest.param("GET", "/healthz/", 404, b"Not Found\n", None, id="trailing-slash"),
        pytest.param("GET", "/", 404, b"Not Found\n", None, id="root"),
        pytest.param("GET", "/anything/else", 404, b"Not Found\n", None, id="other"),
    ],
)
def test_the_service_app(method: str, path: str, status: int, body: bytes, allow: str | None) -> None:
    response = sender()(method, path, {})
    assert (response.status, response.body, response.get("allow")) == (status, body, allow)
    assert response.get("cache-control") == "no-store"


def test_the_health_check_under_a_mount_point() -> None:
    scope = {"type": "http", "method": "GET", "path": "/gw/healthz", "root_path": "/gw", "headers": []}
    sent = drive_asgi(gateway(), scope, [{"type": "http.request", "body": b""}])
    assert sent[0]["status"] == 200


def test_lifespan_completes() -> None:
    sent = drive_asgi(gateway(), {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_a_websocket_is_refused() -> None:
    sent = drive_asgi(gateway(), {"type": "websocket", "path": "/healthz", "headers": []}, [])
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_an_unknown_scope_type_is_ignored() -> None:
    assert drive_asgi(gateway(), {"type": "webtransport", "path": "/"}, []) == []


def test_the_gateway_logs_out() -> None:
    response = sender()("GET", "/logout", {"Cookie": f"id_token={id_token(ISSUER)}"})
    assert response.status == 303
    assert (response.get("location") or "").startswith(ENDPOINT + "?")
    assert response.get_all("set-cookie")[0].startswith("id_token=; Max-Age=0;")


def test_forward_auth_answers_204_or_401_with_the_deletions(stub: StubState) -> None:
    stub.jwks = JWKS
    store = MemoryStore()
    send = sender(end_session_endpoint=None, issuer=stub.issuer, revocation_store=store, clear_cookies=["session"])
    signed_in = {"Cookie": f"id_token={id_token(stub.issuer)}; session=s"}
    assert send("GET", "/auth", {}).status == 204
    assert send("GET", "/auth", signed_in).status == 204
    store.revoke_session(stub.issuer, "sid-1")
    assert send("GET", "/auth", {}).status == 204  # no session, nothing to stop
    assert send("HEAD", "/auth", signed_in).status == 401
    revoked = send("GET", "/auth", signed_in)
    assert revoked.status == 401
    assert [line.partition("=")[0] for line in revoked.get_all("set-cookie")] == ["id_token", "session"]


def test_the_traefik_example_agrees_with_the_nginx_one() -> None:
    yaml = pytest.importorskip("yaml")
    static = yaml.safe_load((TEMPLATE.parent / "traefik.yml").read_text())
    http = yaml.safe_load((TEMPLATE.parent / "traefik-dynamic.yml").read_text())["http"]
    nginx = TEMPLATE.read_text()
    forward_auth = http["middlewares"]["stop-revoked-sessions"]["forwardAuth"]["address"]
    assert forward_auth == f"http://{static['entryPoints']['logout-internal']['address']}{DEFAULT_FORWARD_AUTH_PATH}"
    assert f"proxy_pass http://logout_service{DEFAULT_FORWARD_AUTH_PATH};" in nginx
    logout = http["services"]["logout"]["loadBalancer"]
    assert [server["url"] for server in logout["servers"]] == [
        f"http://{TEMPLATE_ADDRESSES[name]}" for name in ("logout_1", "logout_2")
    ]
    assert logout["healthCheck"]["path"] == HEALTH_PATH
    for path in ("/logout", "/logout/callback", "/backchannel-logout"):
        assert f"Path(`{path}`)" in http["routers"]["logout"]["rule"]
        assert f"location = {path} {{" in nginx
    assert all(http["routers"][app]["middlewares"] == ["stop-revoked-sessions"] for app in ("shop", "wiki"))


# -- the command line -------------------------------------------------------------


def test_check_config_prints_the_options_with_secrets_masked(
    clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in MINIMAL_ENV.items():
        clean_environ.setenv(name, value)
    clean_environ.setenv("LOGOUT_MIDDLEWARE_CLIENT_SECRET", "very-secret")
    assert main(["--check-config"]) == 0
    out = capsys.readouterr().out
    assert 'end_session_endpoint = "https://op.example/end"\n' in out
    assert 'forward_auth_path = "/auth"\n' in out  # the gateway's default is shown
    assert 'client_secret = "***"\n' in out
    assert "very-secret" not in out


def test_check_config_opens_no_store(clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {**MINIMAL_ENV, "LOGOUT_MIDDLEWARE_REVOCATION_STORE": "redis://127.0.0.1:1/0"}.items():
        clean_environ.setenv(name, value)
    assert main(["--check-config"]) == 0
    assert 'revocation_store = "redis://127.0.0.1:1/0"' in capsys.readouterr().out
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("logout-middleware")]


def test_check_config_reads_the_file_and_the_environment_wins(
    clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'end_session_endpoint = "{ENDPOINT}"\nissuer = "{ISSUER}"\nclient_id = "rp"\ncookie_domain = "a.example"\n'
    )
    clean_environ.setenv("LOGOUT_MIDDLEWARE_COOKIE_DOMAIN", "b.example")
    assert main(["--config", str(config), "--check-config"]) == 0
    assert 'cookie_domain = "b.example"\n' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("environ", "argv", "message"),
    [
        pytest.param(
            {"LOGOUT_MIDDLEWARE_ISSUER": "http://op.example"},
            [],
            "LOGOUT_MIDDLEWARE_ISSUER: issuer must be an https:// URL",
            id="invalid-value",
        ),
        pytest.param(
            {"LOGOUT_MIDDLEWARE_ISUER": "https://op.example"},
            ["--check-config"],
            "unknown environment variable LOGOUT_MIDDLEWARE_ISUER; did you mean LOGOUT_MIDDLEWARE_ISSUER?",
            id="misspelt-variable",
        ),
        pytest.param({}, [], "end_session_endpoint or issuer is required", id="nothing-set"),
        pytest.param({}, ["--config", "/nonexistent/gateway.toml"], "cannot read the configuration file", id="no-file"),
        pytest.param(
            {**MINIMAL_ENV, "LOGOUT_MIDDLEWARE_REVOCATION_STORE": "postgres://x"},
            [],
            "LOGOUT_MIDDLEWARE_REVOCATION_STORE: revocation_store must be",
            id="unknown-store",
        ),
        pytest.param(
            {**MINIMAL_ENV, "LOGOUT_MIDDLEWARE_REVOCATION_STORE": "redis://[::1:6379/0"},
            [],
            "LOGOUT_MIDDLEWARE_REVOCATION_STORE: revocation_store: the URL cannot be parsed",
            id="unparseable-store",
        ),
        pytest.param(
            {**MINIMAL_ENV, "LOGOUT_MIDDLEWARE_LOGOUT_PATH": "/auth"},
            [],
            "forward_auth_path '/auth' is already used",
            id="path-taken",
        ),
    ],
)
def test_configuration_errors_exit_2_with_one_line(
    clean_environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    argv: list[str],
    message: str,
) -> None:
    for name, value in environ.items():
        clean_environ.setenv(name, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("logout-gateway: configuration error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_main_serves_the_gateway_with_uvicorn(clean_environ: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    clean_environ.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    for name, value in MINIMAL_ENV.items():
        clean_environ.setenv(name, value)
    assert main(["--host", "0.0.0.0", "--port", "9001"]) == 0
    [(app, options)] = calls
    assert isinstance(app, LogoutMiddleware)
    assert app.config.forward_auth_path == "/auth"
    assert (options["host"], options["port"], options["proxy_headers"]) == ("0.0.0.0", 9001, True)
    assert options["log_config"]["loggers"]["logout_middleware"]["level"] == "INFO"


@pytest.mark.parametrize("missing", ["uvicorn", "logout_middleware.asgi"])
def test_main_without_the_extra_says_what_to_install(
    clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    clean_environ.setitem(sys.modules, missing, None)  # makes importing it fail
    for name, value in MINIMAL_ENV.items():
        clean_environ.setenv(name, value)
    assert main([]) == 2
    assert "pip install 'logout-middleware[gateway]'" in capsys.readouterr().err


def test_the_module_runs_main(clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_environ.delitem(sys.modules, "logout_middleware.__main__", raising=False)
    clean_environ.setattr(sys, "argv", ["logout_middleware", "--check-config"])
    for name, value in MINIMAL_ENV.items():
        clean_environ.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("logout_middleware", run_name="__main__")
    assert exited.value.code == 0
    assert 'forward_auth_path = "/auth"' in capsys.readouterr().out


def test_python_m_runs_the_same_command() -> None:
    env = {"PATH": "/usr/bin:/bin", "LOGOUT_MIDDLEWARE_ISSUER": "http://op.example"}
    failed = subprocess.run(
        [sys.executable, "-m", "logout_middleware", "--check-config"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.startswith("logout-gateway: configuration error: LOGOUT_MIDDLEWARE_ISSUER")
    assert "Traceback" not in failed.stderr
    env.update(LOGOUT_MIDDLEWARE_ISSUER=ISSUER, LOGOUT_MIDDLEWARE_CLIENT_ID="rp")
    checked = subprocess.run(
        [sys.executable, "-m", "logout_middleware", "--check-config"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert 'issuer = "https://op.example"\n' in checked.stdout
