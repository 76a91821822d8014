"""The figures of a run, the rows of its table (each against its baseline, with its target), the Markdown and chart."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """The values measured of one thing (pyperf's, one per wrk run, or a single reading), in *unit*: ``s`` (seconds,
    per request unless said otherwise), ``B`` (bytes), or a rate such as ``req/s``."""

    unit: str
    values: tuple[float, ...]


#: How a row's result is reckoned from the means of its figure, its baseline and its *minus*, and how it is shown.
_COMPARE: dict[str, tuple[Callable[[float, float, float], float], Callable[[float, str], str]]] = {
    "ratio": (lambda value, base, _: value / base, lambda result, _: f"{result:.3f}x"),
    "speedup": (lambda value, base, _: base / value, lambda result, _: f"{result:.2f}x faster"),
    "difference": (lambda value, base, _: value - base, lambda result, unit: quantity(result, unit, signed=True)),
    # What the figure adds to *minus*, over what the baseline adds to it; what ours adds counts as at least a
    # nanosecond (below, it adds nothing measurable).
    "overhead": (lambda value, base, floor: (value - floor) / max(base - floor, 1e-9),
                 lambda result, _: f"adds {result:,.0f}x as much"),
}  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, and how it compares (a key of ``_COMPARE``) with its baseline."""

    section: str
    case: str
    figure: str
    baseline: str | None = None
    compare: str = "ratio"
    minus: str | None = None
    #: What the row must show, as the table says it (``≤ ...`` or ``≥ ...``), and the bound on its result (else on
    #: its figure's mean).
    target: tuple[str, float] | None = None
    #: What the baseline is called in the table; the baseline row's case by default.
    versus: str | None = None


def in_rounds(loads: Sequence[T], count: int, measure: Callable[[T], float], unit: str) -> dict[T, Figure]:
    """Each load measured once a round, in an order rotated every round, after a warm-up round when there are several.

    A burst of outside load then falls on every contestant alike rather than on one.
    """
    values: dict[T, list[float]] = {load: [] for load in loads}
    for round_ in range(-1 if count > 1 else 0, count):
        for load in [*loads[round_ % len(loads) :], *loads[: round_ % len(loads)]]:
            value = measure(load)
            if round_ >= 0:
                values[load].append(value)
    return {load: Figure(unit, tuple(measured)) for load, measured in values.items()}


def evaluate(rows: Sequence[Row], figures: dict[str, Figure]) -> list[dict[str, Any]]:
    """Every row with its figures, result and verdict; KeyError names each figure the run did not produce."""
    missing = sorted({name for row in rows for name in (row.figure, row.baseline, row.minus) if name} - set(figures))
    if missing:
        raise KeyError(f"the run produced no figure for {', '.join(missing)}")
    means = {name: statistics.fmean(figure.values) for name, figure in figures.items()}
    labels, evaluated = {row.figure: row.case for row in reversed(rows)}, []
    for row in rows:
        (reckon, show), figure, mean, result = _COMPARE[row.compare], figures[row.figure], means[row.figure], None
        if row.baseline:
            result = reckon(mean, means[row.baseline], means.get(row.minus or "", 0.0))
        judged = mean if result is None else result
        evaluated.append({
            "section": row.section, "case": row.case, "figure": row.figure, "unit": figure.unit, "mean": mean,
            "stdev": statistics.stdev(figure.values) if len(figure.values) > 1 else None,
            "values": len(figure.values), "baseline": row.baseline,
            "versus": row.versus or labels.get(row.baseline or ""), "compare": row.compare, "result": result,
            "result_text": "" if result is None else show(result, figure.unit), "target": row.target and row.target[0],
            "met": None if row.target is None else (judged <= row.target[1] if row.target[0].startswith("≤")
                                                    else judged >= row.target[1]),
        })  # fmt: skip
    return evaluated


def quantity(value: float, unit: str, *, signed: bool = False) -> str:
    """A value as a reader expects it: ns, µs or ms; MiB; a rate."""
    sign, size = ("+" if value >= 0 else "-") if signed else ("-" if value < 0 else ""), abs(value)
    if unit == "s":
        scales = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
        shown, name = next((size / scale, name) for scale, name in scales if size < scale * 1000 or name == "s")
        return f"{sign}{shown:.3g} {name}" if shown < 100 else f"{sign}{shown:.0f} {name}"
    return f"{sign}{size / 2**20:.1f} MiB" if unit == "B" else f"{sign}{size:,.0f} {unit}"


def markdown(evaluated: Sequence[dict[str, Any]]) -> str:
    lines = ["| Section | Case | Mean ± std | Compared with | Result | Target | Met |", "|---|---|---|---|---|---|---|"]
    for row in evaluated:
        value = quantity(row["mean"], row["unit"])
        value += f" ± {quantity(row['stdev'], row['unit'])}" if row["stdev"] is not None else ""
        met = {None: "", True: "met", False: "**missed**"}[row["met"]]
        cells = (row["section"], row["case"], value, row["versus"] or "", row["result_text"], row["target"] or "", met)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def chart(evaluated: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """The in-process times per request (the rows of figures ``asgi/...`` and ``wsgi/...``), on a log scale."""
    import matplotlib  # noqa: PLC0415 - not in the processes that measure their RSS

    matplotlib.use("Agg")  # no display: the chart only goes to a file
    import matplotlib.pyplot as plt  # noqa: PLC0415

    bars = [row for row in evaluated if row["figure"].split("/")[0] in ("asgi", "wsgi")]
    # Ours: the contestants named so, and every per-request check but the floor's.
    ours = [row["figure"].endswith("/ours") or ("/session/" in row["figure"] and "/floor/" not in row["figure"])
            for row in bars]  # fmt: skip
    figure, axes = plt.subplots(figsize=(9, 0.2 * len(bars) + 1.4))
    positions = range(len(bars))[::-1]
    axes.barh(positions, [row["mean"] * 1e6 for row in bars], xerr=[(row["stdev"] or 0) * 1e6 for row in bars],
              color=["tab:green" if mine else "tab:gray" for mine in ours], capsize=2)  # fmt: skip
    axes.set_yticks(positions, [row["figure"] for row in bars], fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("µs per request, log scale: mean ± standard deviation (ours in green)", fontsize=8)
    axes.set_title(title, fontsize=8)
    axes.grid(axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
