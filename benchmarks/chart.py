"""The overhead chart: what each contestant adds to a request, next to the floor and the alternatives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .fixtures import ID_TOKEN
from .report import Results
from .revocation_check import STORES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_OURS = "#2a7ab9"
_FLOOR = "#9a9a9a"
_OTHER = "#d0703c"
# A log axis cannot show zero or less; an overhead lost in the noise is drawn at this.
_SMALLEST_NS = 1.0


def _bars(axes: Axes, title: str, unit: str, bars: list[tuple[str, float, str]], *, log: bool) -> None:
    labels = [label for label, _, _ in bars]
    values = [value for _, value, _ in bars]
    drawn = [max(value, _SMALLEST_NS) for value in values] if log else values
    positions = range(len(bars))
    axes.barh(positions, drawn, color=[colour for _, _, colour in bars])
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(unit)
    if log:
        axes.set_xscale("log")
    for position, (shown, value) in enumerate(zip(drawn, values, strict=True)):
        axes.annotate(
            f" {value:,.0f}" if value >= 10 else f" {value:.2f}",
            (shown, position),
            va="center",
            fontsize=8,
        )
    axes.margins(x=0.25)


def _pass_through_bars(results: Results, protocol: str, alternative: str) -> list[tuple[str, float, str]]:
    cases = results.pass_through[protocol].cases
    return [
        ("do-nothing wrapper (floor)", cases["floor"].overhead_ns or 0.0, _FLOOR),
        ("logout_middleware", cases["ours"].overhead_ns or 0.0, _OURS),
        ("floor, mounted", cases["floor_mounted"].overhead_ns or 0.0, _FLOOR),
        ("logout_middleware, mounted", cases["ours_mounted"].overhead_ns or 0.0, _OURS),
        (alternative, cases[results.pass_through[protocol].alternative].overhead_ns or 0.0, _OTHER),
    ]


def _revocation_bars(results: Results) -> list[tuple[str, float, str]]:
    # Every store is ours: orange is kept for the alternatives, as in the panels above.
    return [
        (
            f"{protocol.upper()} {store}://",
            results.revocation[protocol].cases[f"live/{store}"].overhead_ns or 0.0,
            _OURS,
        )
        for protocol in ("asgi", "wsgi")
        for store in STORES
    ]


def _gateway_bars(results: Results) -> list[tuple[str, float, str]]:
    return [
        (case.label, case.requests_per_second, _FLOOR if load == "anonymous" else _OURS)
        for load, case in results.gateway.cases.items()
    ]


def draw(results: Results, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - heavy, and only this step needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, grid = pyplot.subplots(3, 2, figsize=(13, 11), layout="constrained")
    _bars(
        grid[0][0],
        "ASGI pass-through: time added to a bare app",
        "ns per request (log scale)",
        _pass_through_bars(results, "asgi", "Starlette BaseHTTPMiddleware"),
        log=True,
    )
    _bars(
        grid[0][1],
        "WSGI pass-through: time added to a bare app",
        "ns per request (log scale)",
        _pass_through_bars(results, "wsgi", "WebOb @wsgify.middleware"),
        log=True,
    )
    logout = results.logout
    _bars(
        grid[1][0],
        "Logout response, in-process",
        "µs per logout",
        [
            ("ASGI logout_middleware", logout["asgi"].cases["ours"].ns_per_request / 1e3, _OURS),
            ("ASGI BaseHTTPMiddleware", logout["asgi"].cases["starlette"].ns_per_request / 1e3, _OTHER),
            ("WSGI logout_middleware", logout["wsgi"].cases["ours"].ns_per_request / 1e3, _OURS),
            ("WSGI @wsgify.middleware", logout["wsgi"].cases["webob"].ns_per_request / 1e3, _OTHER),
        ],
        log=False,
    )
    colours = {"ours": _OURS, "urlencode": _FLOOR, "authing": _OTHER}
    _bars(
        grid[1][1],
        f"Building the end-session URL ({len(ID_TOKEN)}-character id_token)",
        "ns per URL",
        [(builder.label, builder.ns_per_call, colours[key]) for key, builder in results.core.builders.items()],
        log=False,
    )
    _bars(
        grid[2][0],
        "Revocation check, a live session's id_token: time added over checks off",
        "ns per request",
        _revocation_bars(results),
        log=False,
    )
    _bars(
        grid[2][1],
        "Gateway forward-auth through nginx (longer is better)",
        "requests per second",
        _gateway_bars(results),
        log=False,
    )
    figure.suptitle("logout-middleware: cost per request, against the floor and the alternatives (shorter is better)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
