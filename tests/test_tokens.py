from __future__ import annotations

import pytest

from logout_middleware.specs.token_shape import is_compact_jwt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", True, id="jws"),
        pytest.param("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", True, id="unsigned-jws"),
        pytest.param("eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn", True, id="jwe-direct-key"),
        pytest.param("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn", True, id="jwe"),
        pytest.param("", False, id="empty"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9", False, id="header-only"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9..c2ln", False, id="empty-payload"),
        pytest.param("eyJhbGciOiJkaXIifQ.a2V5.aXY..dGFn", False, id="jwe-empty-ciphertext"),
        pytest.param("eyJ.a.b.c", False, id="four-segments"),
        pytest.param("eyJhbGci.eyJz.c2ln.", False, id="trailing-dot"),
        pytest.param("e30.e30.c2ln", False, id="header-not-an-object-with-members"),
        pytest.param("eyJhbGci.eyJzdWIiA.c2ln", False, id="segment-length-mod-4-is-1"),
        pytest.param("eyJhbGci.eyJz%2B.c2ln", False, id="percent"),
        pytest.param("eyJhbGci.eyJz\n.c2ln", False, id="newline"),
        pytest.param("eyJhbGci.éyJz.c2ln", False, id="non-ascii"),
        pytest.param('"eyJhbGci.eyJz.c2ln"', False, id="still-quoted"),
    ],
)
def test_is_compact_jwt(value: str, expected: bool) -> None:
    assert is_compact_jwt(value) is expected
