"""The core on its own: building the end-session URL, ours against two other ways.

* ``urlencode``: what most code does, ``endpoint + "?" + urlencode({...})``;
  it produces the very same URL as ours.
* Authing's SDK (``authing==5.1.0``): ``AuthenticationClient.build_logout_url``.
  It fills a ``%`` template: it neither percent-encodes the redirect URI nor
  sends ``state``, and checks nothing, so it marks how cheap a URL can get
  when nothing is checked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from time import perf_counter_ns
from urllib.parse import urlencode

import logout_middleware

from .fixtures import AUTHING_APP_HOST, END_SESSION_ENDPOINT, ID_TOKEN, REDIRECT_URI, STATE
from .timing import Batch, Plan, best, interleave, median


def _urlencode_url() -> str:
    params = {"post_logout_redirect_uri": REDIRECT_URI, "id_token_hint": ID_TOKEN, "state": STATE}
    return END_SESSION_ENDPOINT + "?" + urlencode(params)


def _authing_builder() -> Callable[[], str]:
    # Authing's package imports websockets without declaring it, and is
    # optional here: without it the comparison is reported as skipped.
    from authing import AuthenticationClient  # noqa: PLC0415

    client = AuthenticationClient(app_id="benchmark", app_host=AUTHING_APP_HOST)  # no network until a call is made
    return partial(client.build_logout_url, REDIRECT_URI, ID_TOKEN, STATE)


def _batch(build: Callable[[], str]) -> Batch:
    def drive(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            build()
        return perf_counter_ns() - start

    return drive


@dataclass
class UrlBuilder:
    label: str
    ns_per_call: float
    median_ns: float
    calls_per_second: float
    url_length: int
    rounds_ns: list[float] = field(repr=False)


@dataclass
class CoreResult:
    builders: dict[str, UrlBuilder]
    #: Our time per URL over the urlencode version's.
    ratio_to_urlencode: float
    #: Our time per URL over Authing's, or None when authing is not installed.
    ratio_to_authing: float | None
    #: Whether ours and the urlencode version build the very same URL, as they should.
    same_url_as_urlencode: bool


def run(plan: Plan) -> CoreResult:
    ours = partial(
        logout_middleware.build_logout_url,
        END_SESSION_ENDPOINT,
        redirect_uri=REDIRECT_URI,
        id_token=ID_TOKEN,
        state=STATE,
    )
    builders: dict[str, tuple[str, Callable[[], str]]] = {
        "ours": ("logout_middleware.build_logout_url", ours),
        "urlencode": ("endpoint + '?' + urlencode({...})", _urlencode_url),
    }
    with contextlib.suppress(ImportError):
        builders["authing"] = ("Authing AuthenticationClient.build_logout_url", _authing_builder())
    samples = interleave({key: _batch(build) for key, (_, build) in builders.items()}, plan)
    results = {
        key: UrlBuilder(
            label, best(samples[key]), median(samples[key]), 1e9 / best(samples[key]), len(build()), samples[key]
        )
        for key, (label, build) in builders.items()
    }
    ours_ns = results["ours"].ns_per_call
    return CoreResult(
        builders=results,
        ratio_to_urlencode=ours_ns / results["urlencode"].ns_per_call,
        ratio_to_authing=ours_ns / results["authing"].ns_per_call if "authing" in results else None,
        same_url_as_urlencode=ours() == _urlencode_url(),
    )
