"""The report as people read it: text and chart titles in their language."""

from __future__ import annotations

from domain.errors import Counted
from domain.policy import PRIORITIES
from domain.reports import Report
from locales import format as fmt
from locales import t


def _by_priority(counts: dict[str, int]) -> str:
    return ", ".join(f"{p} {counts[p]}" for p in PRIORITIES)


def title(report: Report, lang: str, name: str) -> str:
    return t(lang, "report.title", name=name, first=fmt.date(report.period.first_day),
             last=fmt.date(report.period.last_day))


def render(report: Report, lang: str, name: str, for_leads: bool = True) -> str:
    """The report; `for_leads` adds the recommendations, which are advice to the team (the duty roster,
    staffing, a plan to offer) and never go to a customer's chat."""
    lines = [title(report, lang, name), ""]
    lines.append(t(lang, "report.opened", total=report.total_opened, split=_by_priority(report.opened)))
    lines.append(t(lang, "report.resolved", total=report.total_resolved, split=_by_priority(report.resolved)))
    if report.reactions:
        lines.append(t(lang, "report.reaction", median=fmt.duration(lang, report.median),
                       p90=fmt.duration(lang, report.p90)))
    else:
        lines.append(t(lang, "report.no_reaction"))
    if report.share_met is not None:
        lines.append(t(lang, "report.met", share=round(100 * report.share_met), met=report.met,
                       measured=report.measured))
    if report.breaches:
        late = [t(lang, "report.breach_late", key=key, priority=p, by=fmt.duration(lang, by)) if by is not None
                else t(lang, "report.breach_unanswered", key=key, priority=p) for key, p, by in report.breaches]
        lines.append(t(lang, "report.breaches", count=len(late), list=", ".join(late)))
    else:
        lines.append(t(lang, "report.no_breaches"))
    if report.average_rating is not None:
        lines.append(t(lang, "report.rating", rating=fmt.number(lang, report.average_rating),
                       ratings=Counted("words.n.ratings", len(report.ratings))))
    else:
        lines.append(t(lang, "report.no_rating"))
    if report.still_open:
        keys = ", ".join(f"{i.key} ({i.priority})" for i in report.still_open[:20])
        more = len(report.still_open) - 20
        lines.append(t(lang, "report.still_open", count=len(report.still_open), list=keys)
                     + (t(lang, "report.and_more", count=more) if more > 0 else ""))
    else:
        lines.append(t(lang, "report.nothing_open"))
    if report.recommendations and for_leads:
        lines += ["", t(lang, "report.recommendations")]
        lines += ["• " + t(lang, key, **{k: fmt.number(lang, v) if isinstance(v, float) else v
                                         for k, v in params.items()})
                  for key, params in report.recommendations]
    return "\n".join(lines)


def chart_labels(report: Report, lang: str, name: str) -> dict[str, str]:
    return {"title": title(report, lang, name), "weekly": t(lang, "chart.weekly"),
            "reaction": t(lang, "chart.reaction"), "minutes": t(lang, "chart.minutes"),
            "target": t(lang, "chart.target"), "met": t(lang, "chart.met"), "late": t(lang, "chart.late")}
