"""Logout token validation, one check per test, after the OpenID conformance suite's RP back-channel tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from logout_middleware.errors import LogoutError, TokenError
from logout_middleware.specs.logout_token import (
    BACKCHANNEL_LOGOUT_EVENT,
    MAX_TOKEN_SIZE,
    LogoutClaims,
    LogoutTokenError,
    UnknownKeyError,
    unverified_claims,
    validate_logout_token,
)

ISSUER = "https://op.example"
CLIENT_ID = "client-1"
NOW = 1_700_000_000
SECRET = "a-client-secret-long-enough-for-hmac"
DROP = object()  # a claim value meaning "leave the claim out"

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
JWKS = {"keys": [RSA.as_dict(private=False), EC.as_dict(private=False)]}


def make_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": "jti-1",
        "sid": "sid-1",
        "sub": "user-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "extra": "ignored",  # the conformance suite's valid token carries an unknown claim too
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not DROP}


def sign(claims: dict[str, Any], *, key: Key = RSA, alg: str = "RS256", **header: Any) -> str:
    protected = {"alg": alg, "kid": key.kid, **header}
    protected = {name: value for name, value in protected.items() if value is not DROP}
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    return jws.serialize_compact(protected, json.dumps(claims).encode(), key, registry=registry)


def forge(header: dict[str, Any], claims: dict[str, Any], *, key: Key | bytes = RSA) -> str:
    """Sign what joserfc refuses to sign: RS256 with *key*, or HS256 when *key* is bytes."""
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    if isinstance(key, bytes):
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    else:
        signature = jws.JWSRegistry.algorithms["RS256"].sign(signing_input, key)
    return f"{signing_input.decode()}.{b64(signature)}"


def b64(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def validate(token: str, **options: Any) -> LogoutClaims:
    options = {"jwks": JWKS, "issuer": ISSUER, "client_id": CLIENT_ID, "now": NOW, **options}
    return validate_logout_token(token, **options)


def refused(token: str, message: str, **options: Any) -> None:
    with pytest.raises(LogoutTokenError) as info:
        validate(token, **options)
    assert message in str(info.value)


def test_valid_token_with_an_extra_claim() -> None:
    claims = validate(sign(make_claims()))
    assert claims == LogoutClaims(iss=ISSUER, sub="user-1", sid="sid-1", jti="jti-1", iat=NOW - 5, exp=NOW + 115)


def test_error_is_a_logout_error() -> None:
    assert issubclass(LogoutTokenError, TokenError)
    assert issubclass(UnknownKeyError, TokenError)
    assert issubclass(TokenError, LogoutError)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": [CLIENT_ID, "other"]}, id="aud-list-with-client-id"),
        pytest.param({"sub": DROP}, id="sid-only"),
        pytest.param({"sid": DROP}, id="sub-only"),
        pytest.param({"exp": NOW - 30}, id="exp-passed-within-leeway"),
        pytest.param({"iat": NOW + 30}, id="iat-ahead-within-leeway"),
        pytest.param({"events": {BACKCHANNEL_LOGOUT_EVENT: {"x": 1}, "other": {}}}, id="event-with-members"),
        pytest.param({"iat": NOW - 5.5, "exp": NOW + 0.5}, id="fractional-times"),
    ],
)
def test_accepted(changes: dict[str, Any]) -> None:
    sent = make_claims(**changes)
    claims = validate(sign(sent))
    assert (claims.iss, claims.jti) == (ISSUER, "jti-1")
    assert (claims.sid, claims.sub) == (sent.get("sid"), sent.get("sub"))
    assert (claims.iat, claims.exp) == (sent["iat"], sent["exp"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"iss": "https://evil.example"}, "iss is not the expected issuer", id="wrong-iss"),
        pytest.param({"iss": ISSUER + "/"}, "iss is not the expected issuer", id="iss-trailing-slash"),
        pytest.param({"iss": DROP}, "iss is not the expected issuer", id="no-iss"),
        pytest.param({"aud": "other"}, "aud does not contain the client_id", id="wrong-aud"),
        pytest.param({"aud": ["other"]}, "aud does not contain the client_id", id="aud-list-without-client-id"),
        pytest.param({"aud": DROP}, "aud does not contain the client_id", id="no-aud"),
        pytest.param({"events": DROP}, "events claim is missing or not an object", id="no-event"),
        pytest.param(
            {"events": [BACKCHANNEL_LOGOUT_EVENT]}, "events claim is missing or not an object", id="events-list"
        ),
        pytest.param({"events": {}}, f"events claim lacks {BACKCHANNEL_LOGOUT_EVENT}", id="events-empty"),
        pytest.param(
            {"events": {BACKCHANNEL_LOGOUT_EVENT + "-wrong": {}}},
            f"events claim lacks {BACKCHANNEL_LOGOUT_EVENT}",
            id="wrong-event",
        ),
        pytest.param({"events": {BACKCHANNEL_LOGOUT_EVENT: True}}, "is not an object", id="event-member-not-object"),
        pytest.param({"nonce": "n-1"}, "nonce must not be present", id="with-nonce"),
        pytest.param({"sid": DROP, "sub": DROP}, "neither sid nor sub", id="no-sid-no-sub"),
        pytest.param({"sid": 12}, "sid is not a non-empty string", id="sid-number"),
        pytest.param({"sub": ""}, "sub is not a non-empty string", id="sub-empty"),
        pytest.param({"exp": NOW - 61}, "token expired", id="expired"),
        pytest.param({"iat": NOW + 61}, "iat is in the future", id="iat-in-future"),
        pytest.param({"iat": DROP}, "iat is missing or not a number", id="no-iat"),
        pytest.param({"iat": str(NOW)}, "iat is missing or not a number", id="iat-string"),
        pytest.param({"iat": True}, "iat is missing or not a number", id="iat-bool"),
        pytest.param({"iat": float("nan")}, "iat is missing or not a number", id="iat-nan"),
        pytest.param({"exp": DROP}, "exp is missing", id="no-exp"),
        pytest.param({"exp": str(NOW + 60)}, "exp is not a number", id="exp-string"),
        pytest.param({"exp": float("inf")}, "exp is not a number", id="exp-infinite"),
        pytest.param({"jti": DROP}, "jti is missing", id="no-jti"),
        pytest.param({"jti": 7}, "jti is missing", id="jti-number"),
    ],
)
def test_refused_claims(changes: dict[str, Any], message: str) -> None:
    refused(sign(make_claims(**changes)), message)


def test_missing_exp_accepted_only_under_the_opt_in_with_a_recent_iat() -> None:
    token = sign(make_claims(exp=DROP, iat=NOW - 100))
    refused(token, "exp is missing")
    assert validate(token, accept_missing_exp_max_age=120).exp is None
    refused(token, "exp is missing and iat is too old", accept_missing_exp_max_age=60)


def test_exp_still_checked_under_the_opt_in() -> None:
    refused(sign(make_claims(exp=NOW - 100)), "token expired", accept_missing_exp_max_age=3600)


def test_leeway_is_configurable() -> None:
    token = sign(make_claims(iat=NOW + 30))
    refused(token, "iat is in the future", leeway=10)


def test_alg_none() -> None:
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg})}.{b64(make_claims())}."
        refused(token, "alg none is not allowed")
        refused(token, "alg none is not allowed", algorithms=("RS256", "none"))


def test_wrong_alg_with_the_provider_key() -> None:
    # The conformance suite's wrong-alg test: a real provider key, another algorithm.
    refused(sign(make_claims(), alg="RS384"), "alg RS384 is not an expected algorithm")
    refused(sign(make_claims(), alg="PS256"), "alg PS256 is not an expected algorithm")


def test_wrong_alg_refused_by_the_key_own_alg() -> None:
    jwks = {"keys": [{**RSA.as_dict(private=False), "alg": "RS256"}]}
    token = sign(make_claims(), alg="PS256")
    refused(token, "the key named by kid cannot verify alg PS256", jwks=jwks, algorithms=("RS256", "PS256"))
    validate(sign(make_claims()), jwks=jwks, algorithms=("RS256", "PS256"))


def test_every_listed_alg_works_with_a_key_without_alg() -> None:
    validate(sign(make_claims(), alg="PS256"), algorithms=("RS256", "PS256"))


def test_ec_key() -> None:
    validate(sign(make_claims(), key=EC, alg="ES256"), algorithms=("ES256",))
    refused(sign(make_claims(), key=EC, alg="ES256"), "alg ES256 is not an expected algorithm")


def test_alg_not_matching_the_key_type() -> None:
    token = sign(make_claims(), key=EC, alg="ES256", kid="rsa-1")
    refused(token, "the key named by kid cannot verify alg ES256", algorithms=("ES256",))


def test_hs256_refused_without_secret() -> None:
    token = sign(make_claims(), key=OctKey.import_key(SECRET), alg="HS256", kid=DROP)
    refused(token, "alg HS256 is not an expected algorithm")
    refused(token, "alg HS256 is not an expected algorithm", client_secret=SECRET)
    refused(token, "alg HS256 needs a client_secret", algorithms=("RS256", "HS256"))


def test_hs256_accepted_with_the_right_secret() -> None:
    token = sign(make_claims(), key=OctKey.import_key(SECRET), alg="HS256", kid=DROP)
    validate(token, algorithms=("HS256",), client_secret=SECRET)
    refused(token, "signature does not verify", algorithms=("HS256",), client_secret=SECRET + "x")


def test_hs256_signed_with_the_public_key_refused() -> None:
    # The classic key-confusion attack: the provider's public key used as an HMAC secret.
    token = forge({"alg": "HS256", "kid": "rsa-1"}, make_claims(), key=RSA.as_pem(private=False))
    refused(token, "alg HS256 is not an expected algorithm")
    refused(token, "alg HS256 needs a client_secret", algorithms=("RS256", "HS256"))


def test_bad_signature() -> None:
    refused(sign(make_claims(), key=OTHER_RSA), "signature does not verify")
    header, payload, signature = sign(make_claims()).split(".")
    refused(f"{header}.{b64(make_claims(sub='admin'))}.{signature}", "signature does not verify")
    refused(f"{header}.{payload}.", "signature does not verify")


def test_unknown_kid() -> None:
    with pytest.raises(UnknownKeyError, match="unknown kid"):
        validate(sign(make_claims(), kid="rotated"))


@pytest.mark.parametrize(
    "jwks",
    [
        pytest.param({}, id="no-keys"),
        pytest.param({"keys": "nope"}, id="keys-not-a-list"),
        pytest.param({"keys": [EC.as_dict(private=False)]}, id="no-rsa-key"),
    ],
)
def test_no_usable_key_is_an_unknown_key(jwks: dict[str, Any]) -> None:
    with pytest.raises(UnknownKeyError):
        validate(sign(make_claims(), kid=DROP), jwks=jwks)


def test_no_kid_and_one_fitting_key() -> None:
    validate(sign(make_claims(), kid=DROP))


def test_no_kid_and_several_fitting_keys() -> None:
    jwks = {"keys": [*JWKS["keys"], OTHER_RSA.as_dict(private=False)]}
    refused(sign(make_claims(), kid=DROP), "kid is missing and several keys of the JWKS fit", jwks=jwks)


def test_encryption_key_not_used_for_signatures() -> None:
    jwks = {"keys": [{**RSA.as_dict(private=False), "use": "enc"}]}
    refused(sign(make_claims()), "the key named by kid cannot verify alg RS256", jwks=jwks)


def test_unreadable_jwk() -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": "rsa-1", "n": "!!", "e": "AQAB"}]}
    refused(sign(make_claims()), "the key of the JWKS cannot be read", jwks=jwks)


@pytest.mark.parametrize(
    ("typ", "ok"),
    [
        pytest.param(DROP, True, id="absent"),
        pytest.param("JWT", True, id="JWT"),
        pytest.param("jwt", True, id="jwt"),
        pytest.param("logout+jwt", True, id="logout+jwt"),
        pytest.param("Logout+JWT", True, id="mixed-case"),
        pytest.param("application/logout+jwt", True, id="media-type"),
        pytest.param("at+jwt", False, id="access-token"),
        pytest.param("secevent+jwt", False, id="secevent"),
        pytest.param("JOSE", False, id="jose"),
        pytest.param("", False, id="empty"),
        pytest.param(1, False, id="number"),
    ],
)
def test_typ(typ: object, ok: bool) -> None:
    header = {"alg": "RS256", "kid": "rsa-1", "typ": typ}
    token = forge({name: value for name, value in header.items() if value is not DROP}, make_claims())
    if ok:
        validate(token)
    else:
        refused(token, "typ must be absent, JWT or logout+jwt")


def test_unknown_header_parameter_ignored_but_crit_enforced() -> None:
    validate(sign(make_claims(), x_custom="yes"))
    token = forge({"alg": "RS256", "kid": "rsa-1", "x_custom": "yes", "crit": ["x_custom"]}, make_claims())
    refused(token, "token is not a well-formed JWS")


def test_oversized_token() -> None:
    token = sign(make_claims(padding="x" * MAX_TOKEN_SIZE))
    refused(token, "token too large")
    refused("e" * (MAX_TOKEN_SIZE + 1), "token too large")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("", "not a compact JWS", id="empty"),
        pytest.param("garbage", "not a compact JWS", id="one-segment"),
        pytest.param("a.b", "not a compact JWS", id="two-segments"),
        pytest.param("a.b.c.d", "not a compact JWS", id="four-segments"),
        pytest.param("a.b.c.d.e", "encrypted logout tokens are not supported", id="jwe"),
        pytest.param("..", "header is not a base64url JSON object", id="dots"),
        pytest.param("!!!.e30.c2ln", "header is not a base64url JSON object", id="not-base64"),
        pytest.param("éé.e30.c2ln", "header is not a base64url JSON object", id="non-ascii"),
        pytest.param(f"{b64(b'nope')}.e30.c2ln", "header is not a base64url JSON object", id="header-not-json"),
        pytest.param(f"{b64(['RS256'])}.e30.c2ln", "header is not a base64url JSON object", id="header-list"),
        pytest.param(f"{b64({'typ': 'JWT'})}.e30.c2ln", "alg is missing", id="no-alg"),
        pytest.param(f"{b64({'alg': 7})}.e30.c2ln", "alg is missing", id="alg-number"),
        pytest.param(b64({"alg": "RS256\n"}) + ".e30.c2ln", "alg of the token is not", id="alg-not-echoed"),
        pytest.param(f"{b64({'alg': 'RS256', 'kid': 1})}.e30.c2ln", "kid is not a string", id="kid-number"),
        pytest.param(
            f"{b64({'alg': 'RS256', 'kid': 'rsa-1'})}.%%%.c2ln", "token is not a well-formed JWS", id="bad-payload"
        ),
    ],
)
def test_garbage(token: str, message: str) -> None:
    refused(token, message)


def test_payload_not_an_object() -> None:
    registry = jws.JWSRegistry(algorithms=["RS256"])
    token = jws.serialize_compact({"alg": "RS256", "kid": "rsa-1"}, b"[1, 2]", RSA, registry=registry)
    refused(token, "token payload is not a JSON object")


def test_unsupported_alg_listed_by_the_caller() -> None:
    refused(f"{b64({'alg': 'XS999'})}.e30.c2ln", "alg XS999 is not supported", algorithms=("XS999",))


def test_unverified_claims_of_a_token() -> None:
    assert unverified_claims(sign(make_claims())) == make_claims()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c.d.e", id="jwe"),
        pytest.param("x.!!!.y", id="not-base64"),
        pytest.param("x.é.y", id="non-ascii"),
        pytest.param(f"x.{b64(b'not json')}.y", id="not-json"),
        pytest.param("x." + b64(b"\xff\xfe") + ".y", id="not-utf8"),
        pytest.param(f"x.{b64([1])}.y", id="list"),
        pytest.param(f"x.{b64(b'[' * 100_000)}.y", id="deeply-nested"),
        pytest.param(f"x.{b64({'a': 'b' * 70_000})}.y", id="oversized"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_unverified_claims_of_garbage(value: str) -> None:
    assert unverified_claims(value) is None
