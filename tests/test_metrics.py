"""The Prometheus metrics: fed by the events, served by the middleware when asked and by the gateway, scraped for real.

Every scrape here is parsed with prometheus-client's own parser, as
Prometheus would read it, and the counters are compared whole: the series
that moved, with their exact values, and every other one at 0.
"""

from __future__ import annotations

import concurrent.futures
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from logout_middleware import ConfigError, LogoutConfig, events
from logout_middleware.asgi import LogoutMiddleware as AsgiLogoutMiddleware
from logout_middleware.gateway import build_gateway
from logout_middleware.metrics import CONTENT_TYPE, LogoutMetrics
from logout_middleware.stores import MemoryStore, ProcessLocalStore
from tests.support.apps import echo_asgi
from tests.support.provider import StubState
from tests.support.redis_server import redis_server
from tests.support.servers import HOST, REPO_ROOT, free_port, serve_process, serve_wsgi
from tests.support.tokens import id_token, logout_token, unsigned
from tests.support.transports import asgi_sender, drive_asgi, middleware_sender

DOCS = REPO_ROOT / "docs"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]

#: Every series of the counters at the start, each at 0: what the events can move.
REFUSAL_REASONS = {
    "logout": {"method", "prefetch", "query_unparsable", "param_repeated", "cross_site", "not_same_origin",
               "redirect_uri", "return_to", "mount_path", "provider_unavailable", "provider_unusable",
               "no_end_session_endpoint"},
    "callback": {"method", "query_unparsable", "param_repeated", "no_state", "no_state_cookie", "state_mismatch",
                 "mount_path"},
    "backchannel": {"method", "content_type", "body_timeout", "body_too_large", "form", "malformed", "algorithm", "typ",
                    "unknown_key", "signature", "issuer", "audience", "iat", "exp", "sid_sub", "events", "nonce", "jti",
                    "identifier_too_long", "replay", "keys_unavailable", "store_deferred", "store_unavailable"},
    "frontchannel": {"method", "query_unparsable", "param_repeated", "parameters", "issuer", "sid_too_long",
                     "session_required", "unconfirmed_limit", "store_unavailable"},
    "forward_auth": {"method", "revoked", "untrusted", "keys_unavailable", "store_unavailable"},
    "app": {"revoked", "untrusted", "keys_unavailable", "store_unavailable"},
    "metrics": {"method"},
}  # fmt: skip
AT_ZERO: Series = {
    **{("logout_middleware_logouts_total", (("outcome", outcome),)): 0.0
       for outcome in ("redirected", "form_post", "local", "refused", "failed")},
    **{("logout_middleware_logout_callbacks_total", (("outcome", outcome),)): 0.0
       for outcome in ("returned", "refused")},
    **{(f"logout_middleware_{flow}_logouts_total", (("outcome", outcome),)): 0.0
       for flow in ("backchannel", "frontchannel") for outcome in ("accepted", "refused", "unavailable")},
    **{("logout_middleware_refusals_total", (("endpoint", endpoint), ("reason", reason))): 0.0
       for endpoint, reasons in REFUSAL_REASONS.items() for reason in reasons},
    **{("logout_middleware_provider_fetch_failures_total", (("document", document),)): 0.0
       for document in ("discovery", "jwks")},
    **{("logout_middleware_token_revocations_total", (("outcome", outcome), ("token_type", token_type))): 0.0
       for token_type in ("refresh_token", "access_token") for outcome in ("revoked", "failed")},
    ("logout_middleware_store_reconnects_total", (("store", "redis"),)): 0.0,
}  # fmt: skip


def series(text: str) -> Series:
    """Every sample of a scrape, parsed by prometheus-client, but the ``*_created`` ones."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def counters(text: str) -> Series:
    return {key: value for key, value in series(text).items() if key[0].endswith("_total")}


def gauges(text: str) -> Series:
    return {key: value for key, value in series(text).items() if not key[0].endswith("_total")}


def moved(**values: float) -> Series:
    """The counters of AT_ZERO with some moved: ``moved(logouts_redirected=2)`` reads the keys of :data:`NAMES`."""
    result = dict(AT_ZERO)
    for name, value in values.items():
        key = NAMES[name]
        assert key in result, key
        result[key] = value
    return result


def _refusal(endpoint: str, reason: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("logout_middleware_refusals_total", (("endpoint", endpoint), ("reason", reason)))


NAMES = {
    "logouts_redirected": ("logout_middleware_logouts_total", (("outcome", "redirected"),)),
    "logouts_refused": ("logout_middleware_logouts_total", (("outcome", "refused"),)),
    "logouts_failed": ("logout_middleware_logouts_total", (("outcome", "failed"),)),
    "callbacks_returned": ("logout_middleware_logout_callbacks_total", (("outcome", "returned"),)),
    "callbacks_refused": ("logout_middleware_logout_callbacks_total", (("outcome", "refused"),)),
    "backchannel_accepted": ("logout_middleware_backchannel_logouts_total", (("outcome", "accepted"),)),
    "backchannel_refused": ("logout_middleware_backchannel_logouts_total", (("outcome", "refused"),)),
    "backchannel_unavailable": ("logout_middleware_backchannel_logouts_total", (("outcome", "unavailable"),)),
    "frontchannel_accepted": ("logout_middleware_frontchannel_logouts_total", (("outcome", "accepted"),)),
    "refused_backchannel_signature": _refusal("backchannel", "signature"),
    "refused_backchannel_keys_unavailable": _refusal("backchannel", "keys_unavailable"),
    "refused_logout_cross_site": _refusal("logout", "cross_site"),
    "refused_logout_provider_unavailable": _refusal("logout", "provider_unavailable"),
    "refused_forward_auth_revoked": _refusal("forward_auth", "revoked"),
    "refused_app_untrusted": _refusal("app", "untrusted"),
    "refused_metrics_method": _refusal("metrics", "method"),
    "fetch_failures_jwks": ("logout_middleware_provider_fetch_failures_total", (("document", "jwks"),)),
    "fetch_failures_discovery": ("logout_middleware_provider_fetch_failures_total", (("document", "discovery"),)),
    "refresh_token_revoked": (
        "logout_middleware_token_revocations_total",
        (("outcome", "revoked"), ("token_type", "refresh_token")),
    ),
}


def store_gauges(kind: str, *, lag: float, revocations: int, pending: int = 0) -> Series:
    labels = (("store", kind),)
    return {
        ("logout_middleware_store_lag_seconds", labels): lag,
        ("logout_middleware_store_revocations", labels): float(revocations),
        ("logout_middleware_store_pending_writes", labels): float(pending),
    }


# -- LogoutMetrics, fed by events ------------------------------------------------------------------------------------


def test_every_series_starts_at_zero_and_the_events_move_them() -> None:
    store = ProcessLocalStore(MemoryStore)
    metrics = LogoutMetrics(store)
    try:
        assert counters(metrics.render().decode()) == AT_ZERO
        assert gauges(metrics.render().decode()) == {}  # the store is not opened: nothing to say about it
        store.revoke_session("https://op.example", "sid-1")
        events.emit(events.LOGOUT_REDIRECTED, "m", cookies_deleted=1, id_token_hint=True)
        events.emit(events.LOGOUT_REFUSED, "m", reason="cross_site")
        events.emit(events.BACKCHANNEL_REFUSED, "m", reason="signature")
        events.emit(events.BACKCHANNEL_UNAVAILABLE, "m", reason="keys_unavailable", retry_after=10)
        events.emit(events.CHECK_STRIPPED, "m", endpoint="forward_auth", reason="revoked")
        events.emit(events.CHECK_STRIPPED, "m", endpoint="app", reason="untrusted")
        events.emit(events.REQUEST_METHOD_REFUSED, "m", endpoint="metrics")
        events.emit(events.PROVIDER_FETCH_STALE, "m", document="jwks", url="u", unavailable=True, age=1.0)
        events.emit(events.PROVIDER_FETCH_FAILED, "m", document="jwks", url="u", unavailable=True)
        events.emit(events.LOGOUT_TOKEN_REVOKED, "m", token_type="refresh_token")
        events.emit(events.STORE_SYNCED, "m", store="redis", revocations=0, seconds=0.1, reconnect=False)
        events.emit(events.STORE_SYNCED, "m", store="redis", revocations=0, seconds=0.1, reconnect=True)
        events.emit(events.LOGOUT_NO_ID_TOKEN, "m", session=False)  # counted nowhere
        text = metrics.render().decode()
    finally:
        metrics.close()
    assert counters(text) == {
        **moved(
            logouts_redirected=1,
            logouts_refused=1,
            refused_logout_cross_site=1,
            backchannel_refused=1,
            refused_backchannel_signature=1,
            backchannel_unavailable=1,
            refused_backchannel_keys_unavailable=1,
            refused_forward_auth_revoked=1,
            refused_app_untrusted=1,
            refused_metrics_method=1,
            fetch_failures_jwks=2,
            refresh_token_revoked=1,
        ),
        ("logout_middleware_store_reconnects_total", (("store", "redis"),)): 1.0,
    }
    assert gauges(text) == store_gauges("memory", lag=0.0, revocations=1)


def test_closed_metrics_count_no_more() -> None:
    metrics = LogoutMetrics()
    metrics.close()
    events.emit(events.LOGOUT_LOCAL, "m", cookies_deleted=0)
    assert counters(metrics.render().decode()) == AT_ZERO


def test_an_asgi_app_started_again_after_its_shutdown_counts_again() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # one lifespan message a call, so that the test can act in between
            message = await receive()
            await send({"type": message["type"] + ".complete"})
        else:
            await echo_asgi(scope, receive, send)

    middleware = AsgiLogoutMiddleware(app, end_session_endpoint="https://op.example/end", metrics=True)
    send = asgi_sender(middleware)

    def lifespan(event: str) -> None:
        assert drive_asgi(middleware, {"type": "lifespan"}, [{"type": event}]) == [{"type": event + ".complete"}]

    lifespan("lifespan.startup")
    assert send("GET", "/logout", {}).status == 303  # counted
    lifespan("lifespan.shutdown")
    assert send("GET", "/logout", {}).status == 303  # not counted: the app is shut down
    lifespan("lifespan.startup")
    assert send("GET", "/logout", {}).status == 303  # counted again
    text = send("GET", "/metrics", {}).body.decode()
    lifespan("lifespan.shutdown")
    assert counters(text) == moved(logouts_redirected=2)


def test_a_value_an_event_does_not_list_is_counted_under_other() -> None:
    metrics = LogoutMetrics()
    try:
        events.emit(events.CALLBACK_REFUSED, "m", reason="made-up")
        text = metrics.render().decode()
    finally:
        metrics.close()
    other = ("logout_middleware_refusals_total", (("endpoint", "other"), ("reason", "other")))
    assert counters(text) == {**moved(callbacks_refused=1), other: 1.0}


def test_metrics_in_a_registry_of_the_app_s_own_count_while_it_is_kept() -> None:
    registry = CollectorRegistry()
    LogoutMetrics(registry=registry)  # no reference kept: the registry keeps it
    events.emit(events.LOGOUT_LOCAL, "m", cookies_deleted=0)
    assert registry.get_sample_value("logout_middleware_logouts_total", {"outcome": "local"}) == 1.0


def test_the_metrics_page_names_every_event() -> None:
    """docs/metrics.md says, for every event, which metric it moves, or that it moves none."""
    page = (DOCS / "metrics.md").read_text()
    assert [name for name in events.EVENTS if f"`{name}`" not in page] == []


def test_the_metrics_page_lists_every_metric() -> None:
    page = (DOCS / "metrics.md").read_text()
    rows = re.findall(r"^\| `(logout_middleware_[a-z_]+)` \| (counter|gauge) \|", page, flags=re.MULTILINE)
    metrics = LogoutMetrics(ProcessLocalStore(MemoryStore))
    try:
        text = metrics.render().decode()
    finally:
        metrics.close()
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(text)
        if not family.name.endswith("_created")
    }
    assert {name.removesuffix("_total"): kind for name, kind in rows} == families


# -- the middleware's own endpoint, when asked for ----------------------------------------------------------------


def test_the_middleware_serves_no_metrics_unless_asked(kind: str) -> None:
    response = middleware_sender(kind, end_session_endpoint="https://op.example/end")("GET", "/metrics", {})
    assert (response.status, response.get("x-app")) == (200, "echo")  # the app's path


def test_the_middleware_serves_its_metrics_when_asked(kind: str, stub: StubState) -> None:
    send = middleware_sender(
        kind,
        issuer=stub.issuer,
        client_id="rp",
        backchannel_logout_path="/backchannel",
        revocation_store="memory://",
        metrics=True,
    )
    before = send("GET", "/metrics", {})
    assert (before.status, before.get("content-type"), before.get("cache-control")) == (200, CONTENT_TYPE, "no-store")
    assert counters(before.body.decode()) == AT_ZERO
    assert gauges(before.body.decode()) == {}  # the store opens at the first request that needs it
    assert send("GET", "/logout", {"Cookie": f"id_token={stub.id_token(sid='sid-2')}"}).status == 303
    assert send("GET", "/logout", {"Sec-Fetch-Site": "cross-site"}).status == 403
    token = logout_token(stub.issuer, sid="sid-1")
    assert send("POST", "/backchannel", FORM, f"logout_token={token}".encode()).status == 200
    assert send("GET", "/page", {"Cookie": "id_token=not-a-token"}).status == 200  # stripped: not verified
    assert send("POST", "/metrics", {}).get("allow") == "GET, HEAD"
    head = send("HEAD", "/metrics", {})
    after = send("GET", "/metrics", {})
    assert (head.status, head.body) == (200, b"")
    assert counters(after.body.decode()) == moved(
        logouts_redirected=1,
        logouts_refused=1,
        refused_logout_cross_site=1,
        backchannel_accepted=1,
        refused_app_untrusted=1,
        refused_metrics_method=1,
    )
    assert gauges(after.body.decode()) == store_gauges("memory", lag=0.0, revocations=2)


def test_the_middleware_serves_its_metrics_below_its_mount_point(kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", metrics=True, root_path="/app")
    assert send("GET", "/app/metrics", {}).get("content-type") == CONTENT_TYPE


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"metrics": "yes"}, "metrics must be True or False, got 'yes'", id="not-a-bool"),
        pytest.param({"metrics_path": "metrics"}, "metrics_path must be a path starting with '/'", id="not-a-path"),
        pytest.param(
            {"metrics": True, "metrics_path": "/logout"},
            "metrics_path '/logout' is already used by logout_path",
            id="taken",
        ),
    ],
)
def test_metrics_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        LogoutConfig(end_session_endpoint="https://op.example/end", **options)


def test_metrics_without_prometheus_client_say_what_to_install(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # makes importing it fail
    message = "metrics=True (the Prometheus metrics) need prometheus_client: pip install 'logout-middleware[metrics]'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        middleware_sender(kind, end_session_endpoint="https://op.example/end", metrics=True)


# -- the gateway, in process ------------------------------------------------------------------------------------------


def gateway_config(**options: Any) -> LogoutConfig:
    return LogoutConfig(end_session_endpoint="https://op.example/end", issuer="https://op.example", client_id="rp",
                        **options)  # fmt: skip


def test_the_gateway_serves_metrics_when_prometheus_client_is_there() -> None:
    gateway = build_gateway(gateway_config())
    assert gateway.config.metrics is True
    assert asgi_sender(gateway)("GET", "/metrics", {}).get("content-type") == CONTENT_TYPE


def test_the_gateway_s_metrics_can_be_turned_off_or_moved() -> None:
    assert asgi_sender(build_gateway(gateway_config(metrics=False)))("GET", "/metrics", {}).status == 404
    moved_away = asgi_sender(build_gateway(gateway_config(metrics_path="/internal/metrics")))
    assert moved_away("GET", "/internal/metrics", {}).get("content-type") == CONTENT_TYPE
    assert moved_away("GET", "/metrics", {}).status == 404
    with pytest.raises(ConfigError, match="metrics_path '/healthz' is the gateway's health check"):
        build_gateway(gateway_config(metrics_path="/healthz"))


def test_the_gateway_without_prometheus_client_serves_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    gateway = build_gateway(gateway_config())
    assert gateway.config.metrics is False
    assert asgi_sender(gateway)("GET", "/metrics", {}).status == 404
    with pytest.raises(ConfigError, match=re.escape("pip install 'logout-middleware[metrics]'")):
        build_gateway(gateway_config(metrics=True))


# -- the gateway for real: its /metrics scraped over HTTP -------------------------------------------------------------


def gateway_env(stub: StubState, store: str) -> dict[str, str]:
    return {
        "LOGOUT_MIDDLEWARE_ISSUER": stub.issuer,
        "LOGOUT_MIDDLEWARE_CLIENT_ID": stub.client_id,
        "LOGOUT_MIDDLEWARE_BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout",
        "LOGOUT_MIDDLEWARE_REVOCATION_STORE": store,
    }


def serve_gateway(env: dict[str, str]) -> Any:
    port = free_port()
    argv = [sys.executable, "-m", "logout_middleware", "--host", HOST, "--port", str(port)]
    return serve_process(argv, port=port, env=env, ready_path="/healthz")


def scrape(base_url: str) -> str:
    response = httpx.get(base_url + "/metrics")
    assert (response.status_code, response.headers["content-type"]) == (200, CONTENT_TYPE)
    return response.text


@pytest.mark.servers
def test_the_gateway_s_metrics_count_what_happened(stub: StubState) -> None:
    with serve_gateway(gateway_env(stub, "memory://")) as base_url:
        assert counters(scrape(base_url)) == AT_ZERO
        with httpx.Client(base_url=base_url) as client:
            for sid in ("sid-2", "sid-3"):
                assert (
                    client.get("/logout", headers={"Cookie": f"id_token={stub.id_token(sid=sid)}"}).status_code == 303
                )
            accepted = client.post("/backchannel-logout", data={"logout_token": logout_token(stub.issuer, sid="sid-1")})
            forged = unsigned(logout_token(stub.issuer, sid="sid-4"), sid="sid-5")
            refused = client.post("/backchannel-logout", data={"logout_token": forged})
            stopped = client.get("/auth", headers={"Cookie": f"id_token={id_token(stub.issuer, sid='sid-1')}"})
        assert (accepted.status_code, refused.status_code, stopped.status_code) == (200, 400, 401)
        text = scrape(base_url)
    assert counters(text) == moved(
        logouts_redirected=2,
        backchannel_accepted=1,
        backchannel_refused=1,
        refused_backchannel_signature=1,
        refused_forward_auth_revoked=1,
    )
    # The two logouts recorded their sessions as revoked (the gateway checks requests), and so did the provider's.
    assert gauges(text) == store_gauges("memory", lag=0.0, revocations=3)


def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)


@pytest.mark.servers
def test_the_gateway_s_store_lag_grows_while_redis_is_away(stub: StubState, tmp_path: Path) -> None:
    def lag(base_url: str) -> float:
        return gauges(scrape(base_url))[("logout_middleware_store_lag_seconds", (("store", "redis"),))]

    def reconnects(base_url: str) -> float:
        return counters(scrape(base_url))[("logout_middleware_store_reconnects_total", (("store", "redis"),))]

    with redis_server(tmp_path / "redis") as redis, serve_gateway(gateway_env(stub, redis.url)) as base_url:
        assert (lag(base_url), reconnects(base_url)) == (0.0, 0.0)
        redis.stop()
        eventually(lambda: lag(base_url) > 0.0)
        first = lag(base_url)
        time.sleep(1.0)
        assert lag(base_url) >= first + 1.0  # counted from when Redis last answered
        redis.start()
        eventually(lambda: lag(base_url) == 0.0)
        assert reconnects(base_url) == 1.0


# -- several workers: prometheus-client's multiprocess mode ----------------------------------------------------------

WORKERS_APP = """
import os
from logout_middleware.wsgi import LogoutMiddleware

def app_itself(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]

middleware = LogoutMiddleware(app_itself, end_session_endpoint="https://op.example/end", metrics=True)

def app(environ, start_response):
    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)
    return middleware(environ, start)
"""


@pytest.mark.servers
def test_several_workers_count_together_in_multiprocess_mode(tmp_path: Path) -> None:
    (tmp_path / "workers_app.py").write_text(WORKERS_APP)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}

    def logout(base_url: str) -> str:
        response = httpx.get(base_url + "/logout")
        assert response.status_code == 303
        return response.headers["x-worker"]

    with serve_wsgi("workers_app:app", app_dir=tmp_path, env=env, extra_args=["--workers=2"]) as base_url:
        workers: set[str] = set()
        sent = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            while len(workers) < 2 or sent < 40:
                assert sent < 2000, "one worker took every request"
                workers |= set(pool.map(logout, [base_url] * 8))
                sent += 8
        scrapes = [counters(httpx.get(base_url + "/metrics").text) for _ in range(6)]
    redirected = NAMES["logouts_redirected"]
    assert [scrape[redirected] for scrape in scrapes] == [float(sent)] * 6, "every scrape sums every worker"
    assert len(list(directory.glob("counter_*.db"))) == 2
