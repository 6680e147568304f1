"""The report as people read it: text and chart titles in their language."""

from __future__ import annotations

from domain.policy import PRIORITIES
from domain.reports import Report
from locales import t
from locales.format import short


def _by_priority(counts: dict[str, int]) -> str:
    return ", ".join(f"{p} {counts[p]}" for p in PRIORITIES)


def title(report: Report, lang: str, name: str) -> str:
    return t(lang, "report.title", name=name, first=report.period.first_day.isoformat(),
             last=report.period.last_day.isoformat())


def render(report: Report, lang: str, name: str) -> str:
    lines = [title(report, lang, name), ""]
    lines.append(t(lang, "report.opened", total=report.total_opened, split=_by_priority(report.opened)))
    lines.append(t(lang, "report.resolved", total=report.total_resolved, split=_by_priority(report.resolved)))
    if report.reactions:
        lines.append(t(lang, "report.reaction", median=short(report.median), p90=short(report.p90)))
    else:
        lines.append(t(lang, "report.no_reaction"))
    if report.share_met is not None:
        lines.append(t(lang, "report.met", share=round(100 * report.share_met), met=report.met,
                       measured=report.measured))
    if report.breaches:
        late = [t(lang, "report.breach_late", key=key, priority=p, by=short(by)) if by is not None
                else t(lang, "report.breach_unanswered", key=key, priority=p) for key, p, by in report.breaches]
        lines.append(t(lang, "report.breaches", count=len(late), list=", ".join(late)))
    else:
        lines.append(t(lang, "report.no_breaches"))
    if report.average_rating is not None:
        lines.append(t(lang, "report.rating", rating=f"{report.average_rating:.1f}", count=len(report.ratings)))
    else:
        lines.append(t(lang, "report.no_rating"))
    if report.still_open:
        keys = ", ".join(f"{i.key} ({i.priority})" for i in report.still_open[:20])
        more = len(report.still_open) - 20
        lines.append(t(lang, "report.still_open", count=len(report.still_open), list=keys)
                     + (t(lang, "report.and_more", count=more) if more > 0 else ""))
    else:
        lines.append(t(lang, "report.nothing_open"))
    if report.recommendations:
        lines += ["", t(lang, "report.recommendations")]
        lines += ["• " + t(lang, key, **params) for key, params in report.recommendations]
    return "\n".join(lines)


def chart_labels(report: Report, lang: str, name: str) -> dict[str, str]:
    return {"title": title(report, lang, name), "weekly": t(lang, "chart.weekly"),
            "reaction": t(lang, "chart.reaction"), "minutes": t(lang, "chart.minutes"),
            "target": t(lang, "chart.target"), "met": t(lang, "chart.met"), "late": t(lang, "chart.late")}
