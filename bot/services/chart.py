"""The /status picture: error rate and p95 latency over time, with incident and rollout marks.

Pure (data in, PNG bytes out) but CPU-bound: callers run it in a thread.

matplotlib (and numpy under it) is imported when the first chart is drawn, not when the
bot starts: it is about 55 MiB of a replica's memory, which most replicas never need.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Points = Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str
    color: str = "tab:purple"


def render_chart(
    title: str, error_rate: Points, latency_p95: Points, marks: Sequence[Mark] = ()
) -> bytes:
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure  # a bare Figure renders with Agg: no pyplot state

    figure = Figure(figsize=(8, 4.2), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True)
    _plot(top, error_rate, "Error rate (%)", "tab:red", scale=100.0, threshold=5.0)
    _plot(bottom, latency_p95, "p95 latency (s)", "tab:blue", scale=1.0, threshold=1.0)
    for axis in (top, bottom):
        for mark in marks:
            axis.axvline(_num(mark.at), color=mark.color, linestyle="--", linewidth=1)
    for mark in marks:
        top.annotate(
            mark.label,
            (_num(mark.at), 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=mark.color,
            rotation=90,
            va="top",
            ha="right",
        )
    formatter = mdates.DateFormatter("%H:%M", tz="UTC")  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_formatter(formatter)
    bottom.set_xlabel("UTC")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _plot(
    ax: Axes, points: Points, label: str, color: str, *, scale: float, threshold: float
) -> None:
    xs = [_num(t) for t, v in points if v == v]
    ys = [v * scale for _, v in points if v == v]
    if xs:
        ax.plot(xs, ys, color=color, linewidth=1.5)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="grey")
    ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    ax.set_ylabel(label, fontsize=8)
    ax.grid(alpha=0.3)


def _num(at: datetime) -> float:
    from matplotlib import dates as mdates

    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]
