"""The report's chart: incidents per week by priority, and reaction times against the target (PNG)."""

from __future__ import annotations

import io

from domain.policy import PRIORITIES
from domain.reports import Report

COLORS = {"P1": "#d62728", "P2": "#ff7f0e", "P3": "#1f77b4", "P4": "#7f7f7f"}
SIZE = (10, 7)  # inches
DPI = 100  # → 1000 × 700 pixels


def render(report: Report, labels: dict[str, str]) -> bytes:
    """PNG bytes. `labels` holds the translated titles: title, weekly, reaction, minutes, target, met, late."""
    # Imported when a chart is drawn: matplotlib costs about 40 MB of memory that most hours never need.
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    fig, (bars, dots) = plt.subplots(2, 1, figsize=SIZE, dpi=DPI)
    weeks = sorted(report.weekly)
    names = [w.strftime("%d.%m") for w in weeks]
    bottom = [0] * len(weeks)
    for priority in PRIORITIES:
        counts = [report.weekly[w][priority] for w in weeks]
        bars.bar(names, counts, bottom=bottom, color=COLORS[priority], label=priority)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    bars.set_title(labels["weekly"])
    bars.legend(ncol=4, fontsize=8)
    bars.yaxis.get_major_locator().set_params(integer=True)

    if report.reactions:
        opened = [r[0] for r in report.reactions]
        minutes = [r[1].total_seconds() / 60 for r in report.reactions]
        targets = [r[2].total_seconds() / 60 for r in report.reactions]
        ok = [m <= t for m, t in zip(minutes, targets, strict=True)]
        dots.scatter([o for o, good in zip(opened, ok, strict=True) if good],
                     [m for m, good in zip(minutes, ok, strict=True) if good], color="#2ca02c", label=labels["met"])
        dots.scatter([o for o, good in zip(opened, ok, strict=True) if not good],
                     [m for m, good in zip(minutes, ok, strict=True) if not good], color="#d62728",
                     label=labels["late"])
        dots.step(opened, targets, where="post", color="#555555", linestyle="--", label=labels["target"])
        dots.legend(fontsize=8)
    dots.set_title(labels["reaction"])
    dots.set_ylabel(labels["minutes"])
    fig.suptitle(labels["title"])
    dots.tick_params(axis="x", labelrotation=20)  # (autofmt_xdate would hide the week labels above)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
