"""RFC 7009: the tokens in cookies are revoked at the provider, and a failure never blocks logout."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qsl

import pytest

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.core.logout import REVOCATION_FAILED, REVOKED
from tests.support.apps import ID_TOKEN
from tests.support.provider import StubState
from tests.support.transports import middleware_sender

COOKIES = {"Cookie": f"id_token={ID_TOKEN}; rt=refresh-1; at=access-1"}


def revocations(stub: StubState) -> list[dict[str, object]]:
    return [r for r in stub.requests if r["path"] == "/token/revocation"]


def test_refresh_then_access_token_revoked_with_basic_auth(stub: StubState, kind: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    send = middleware_sender(kind, issuer=stub.issuer, client_id="rp 1", client_secret="s3cr:t",
                             refresh_token_cookie="rt", access_token_cookie="at")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="logout_middleware"):
        response = send("GET", "/logout", COOKIES)
    assert response.status == 303
    assert [line.split("=")[0] for line in response.get_all("Set-Cookie")] == ["id_token", "rt", "at"]
    sent = revocations(stub)
    assert [parse_qsl(r["body"].decode()) for r in sent] == [  # type: ignore[attr-defined]
        [("token", "refresh-1"), ("token_type_hint", "refresh_token")],
        [("token", "access-1"), ("token_type_hint", "access_token")],
    ]
    for request in sent:
        headers = request["headers"]
        assert isinstance(headers, dict)
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"rp%201:s3cr%3At"
    assert [r.msg for r in caplog.records if r.msg == REVOKED] == [REVOKED, REVOKED]
    assert "refresh-1" not in caplog.text and "s3cr" not in caplog.text


def test_client_secret_post(stub: StubState, kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end",
                             revocation_endpoint=f"{stub.issuer}/token/revocation", client_id="rp",
                             client_secret="s", token_endpoint_auth_method="client_secret_post",
                             refresh_token_cookie="rt")  # fmt: skip
    assert send("GET", "/logout", COOKIES).status == 303
    (request,) = revocations(stub)
    assert "Authorization" not in request["headers"]  # type: ignore[operator]
    assert parse_qsl(request["body"].decode()) == [  # type: ignore[attr-defined]
        ("token", "refresh-1"), ("token_type_hint", "refresh_token"), ("client_id", "rp"), ("client_secret", "s"),
    ]  # fmt: skip


def test_no_token_cookie_no_request(stub: StubState, kind: str) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, client_id="rp", refresh_token_cookie="rt")
    assert send("GET", "/logout", {}).status == 303
    assert revocations(stub) == []


@pytest.mark.parametrize("failure", ["500", "400", "401", "slow", "down"])
def test_a_failed_revocation_is_logged_and_the_logout_goes_on(
    stub: StubState, kind: str, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = f"{stub.issuer}/token/revocation" if failure != "down" else "http://127.0.0.1:9/revoke"
    if failure in ("500", "400", "401"):
        stub.revocation_status = int(failure)
    if failure == "slow":
        stub.delay = 1.0
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", revocation_endpoint=endpoint,
                             client_id="rp", refresh_token_cookie="rt", http_timeout=0.2)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="logout_middleware"):
        response = send("GET", "/logout", COOKIES)
    assert response.status == 303
    assert (response.get("Location") or "").startswith("https://op.example/end")
    assert [r.msg for r in caplog.records] == [REVOCATION_FAILED]


def test_revocation_without_a_known_endpoint_is_skipped(stub: StubState, kind: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    stub.mode = "500"  # discovery fails; the explicit end-session endpoint still works
    send = middleware_sender(kind, issuer=stub.issuer, end_session_endpoint="https://op.example/end",
                             client_id="rp", refresh_token_cookie="rt")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="logout_middleware"):
        assert send("GET", "/logout", COOKIES).status == 303
    assert "no revocation_endpoint is known" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"refresh_token_cookie": "rt"}, "client_id is required to revoke"),
        ({"refresh_token_cookie": "rt", "client_id": "a"}, "revocation_endpoint or issuer is required"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
    ],
)
def test_configuration_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(end_session_endpoint="https://op.example/end", **options)


def test_secrets_are_masked_in_repr() -> None:
    config = LogoutConfig(issuer="https://op.example", client_id="a", client_secret="hunter2",
                          forward_auth_path="/auth", revocation_store="memory://")  # fmt: skip
    assert "hunter2" not in repr(config)
    assert "client_secret='***'" in repr(config)
    with_redis = LogoutConfig(end_session_endpoint="https://op.example/end", revocation_store="rediss://u:pw@r:6380/0")
    assert "pw@" not in repr(with_redis)
    assert "revocation_store='rediss://u:***@r:6380/0'" in repr(with_redis)
    assert "client_id='a'" in repr(config)
