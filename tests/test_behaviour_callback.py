"""The behaviour table of the logout callback (``logout_callback_path``), against both adapters.

The provider sends the browser back here after its logout, with the
``state`` the logout sent it; the ``logout_state`` cookie the logout set ties
that state to this browser and carries the page to return to.  Each row is
one request (after the requests it needs first) and the one answer promised.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from urllib.parse import quote

import pytest

from logout_middleware.web.return_to import pack_state_cookie
from tests.support.apps import ID_TOKEN
from tests.support.tables import Answer, Case, Values, deletion, row_sender, run_case

OPTIONS = {
    "end_session_endpoint": "https://op.example/end",
    "client_id": "rp",
    "post_logout_redirect_uri": "https://app.example/logout/callback",
    "logout_callback_path": "/logout/callback",
}
STATE_DELETION = deletion("logout_state", path="/logout/callback")
NOT_VALID = b"Bad Request: this logout link is not valid any more\n"
PAGE = "/orders?page=2"

#: The logouts that come first: they set the state cookie, and send the state to the provider.
LOGOUT = (Case("GET", "/logout"), 303)
LOGOUT_FROM_A_PAGE = (Case("GET", f"/logout?return_to={quote(PAGE, safe='')}", {"Cookie": f"id_token={ID_TOKEN}"}), 303)
#: The provider's redirect back, with the state it was sent, and the browser's state cookie.
BACK = Case("GET", "/logout/callback?state={state}", {"Cookie": "{state_cookie}"}, before=[LOGOUT_FROM_A_PAGE])


def back(**changes: Any) -> Case:
    """:data:`BACK`, changed."""
    return dataclasses.replace(BACK, **changes)


ROWS = [
    # -- arriving without anything to check ------------------------------------------------------
    pytest.param(
        Case("GET", "/logout/callback"),
        Answer(303, location="/", headers={"Content-Length": "0"}, body=b""),
        id="no-state-no-cookie-goes-home",
    ),
    pytest.param(
        Case("GET", "/logout/callback", options={"default_return_to": "/home"}),
        Answer(303, location="/home", body=b""),
        id="no-state-no-cookie-goes-to-default_return_to",
    ),
    pytest.param(
        Case("HEAD", "/logout/callback"),
        Answer(303, location="/", headers={"Content-Length": "0"}),
        id="head-no-state-no-cookie-goes-home",
    ),
    # -- the state and its cookie ----------------------------------------------------------------
    pytest.param(
        back(),
        Answer(303, [STATE_DELETION], location=PAGE, headers={"Content-Length": "0"}, body=b""),
        id="state-and-its-cookie-return-to-the-page",
    ),
    pytest.param(
        back(before=[LOGOUT]),
        Answer(303, [STATE_DELETION], location="/", body=b""),
        id="state-and-its-cookie-without-a-page-go-home",
    ),
    pytest.param(
        back(before=[LOGOUT], options={"default_return_to": "/home"}),
        Answer(303, [STATE_DELETION], location="/home"),
        id="state-and-its-cookie-without-a-page-go-to-default_return_to",
    ),
    pytest.param(
        back(headers={"Cookie": "theme=dark; {state_cookie}; session=s"}),
        Answer(303, [STATE_DELETION], location=PAGE),
        id="state-cookie-among-others",
    ),
    pytest.param(
        back(method="HEAD"),
        Answer(303, [STATE_DELETION], location=PAGE),
        id="head-state-and-its-cookie",
    ),
    pytest.param(
        back(headers={"Cookie": "{aged_state_cookie}"}, target="/logout/callback?state=aged", before=[]),
        Answer(303, [STATE_DELETION], location=PAGE),
        id="cookie-599-seconds-old-still-valid",
    ),
    # -- refused: the link cannot be trusted any more ----------------------------------------------
    pytest.param(
        back(target="/logout/callback?state=forged"),
        Answer(400, body=NOT_VALID),
        id="forged-state",
    ),
    pytest.param(
        back(target="/logout/callback?state={state}", headers={}, before=[LOGOUT_FROM_A_PAGE, (BACK, 303)]),
        Answer(400, body=NOT_VALID),
        id="replayed-state-after-the-cookie-was-deleted",
    ),
    pytest.param(
        back(headers={"Cookie": "{expired_state_cookie}"}, target="/logout/callback?state=expired", before=[]),
        Answer(400, body=NOT_VALID),
        id="expired-cookie",
    ),
    pytest.param(
        back(headers={"Cookie": "{future_state_cookie}"}, target="/logout/callback?state=future", before=[]),
        Answer(400, body=NOT_VALID),
        id="cookie-from-the-future",
    ),
    pytest.param(
        back(headers={"Cookie": "{foreign_page_state_cookie}"}, target="/logout/callback?state=foreign", before=[]),
        Answer(400, body=NOT_VALID),
        id="cookie-edited-to-another-site",
    ),
    pytest.param(
        back(target="/logout/callback?state=%ff"),
        Answer(400, body=NOT_VALID),
        id="state-not-utf8",
    ),
    pytest.param(
        back(target="/logout/callback"),
        Answer(400, body=NOT_VALID),
        id="cookie-without-state",
    ),
    pytest.param(
        back(target="/logout/callback?state="),
        Answer(400, body=NOT_VALID),
        id="cookie-with-an-empty-state",
    ),
    pytest.param(
        back(headers={}),
        Answer(400, body=NOT_VALID),
        id="state-without-cookie",
    ),
    pytest.param(
        back(target="/logout/callback?state={state}&state={state}"),
        Answer(400, body=b"Bad Request: state is given more than once\n"),
        id="state-given-twice",
    ),
    pytest.param(
        Case("HEAD", "/logout/callback?state=forged"),
        Answer(400),
        id="head-state-without-cookie",
    ),
    # -- methods ---------------------------------------------------------------------------------------
    pytest.param(
        back(method="POST"),
        Answer(405, headers={"Allow": "GET, HEAD"}, body=b"Method Not Allowed: the logout callback takes GET\n"),
        id="post-is-405",
    ),
    pytest.param(
        Case("PUT", "/logout/callback"),
        Answer(405, headers={"Allow": "GET, HEAD"}, body=b"Method Not Allowed: the logout callback takes GET\n"),
        id="put-is-405",
    ),
    # -- where it is served ------------------------------------------------------------------------------
    pytest.param(
        back(
            target="/shop/logout/callback?state={state}",
            root_path="/shop",
            before=[(Case("GET", f"/shop/logout?return_to={quote(PAGE, safe='')}"), 303)],
        ),
        Answer(303, [deletion("logout_state", path="/shop/logout/callback")], location=PAGE),
        id="mounted-under-a-root-path",
    ),
    pytest.param(
        back(scheme="https"),
        Answer(303, [deletion("logout_state", path="/logout/callback", secure=True)], location=PAGE),
        id="over-https-the-deletion-is-secure",
    ),
    pytest.param(
        Case("GET", "/logout/callback/?state=x"),
        Answer(200, cache_control=None, app_cookie=""),
        id="trailing-slash-is-the-apps",
    ),
]


def values() -> Values:
    """The row's values: state cookies made at other times, as the logout would have made them then."""
    now = int(time.time())
    return Values(
        aged_state_cookie=f"logout_state={pack_state_cookie('aged', PAGE, now - 599)}",
        expired_state_cookie=f"logout_state={pack_state_cookie('expired', PAGE, now - 601)}",
        future_state_cookie=f"logout_state={pack_state_cookie('future', PAGE, now + 60)}",
        foreign_page_state_cookie=f"logout_state={pack_state_cookie('foreign', '//evil.example/', now)}",
    )


@pytest.mark.parametrize(("case", "answer"), ROWS)
def test_logout_callback(kind: str, case: Case, answer: Answer) -> None:
    given = values()
    answer.check(run_case(row_sender(kind, case, **OPTIONS), case, given), given)
