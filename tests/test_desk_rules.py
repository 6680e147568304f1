"""Rules that the handlers used to hold, each now in one place in `domain/`: the SLA verdict (card, reports,
export), the next on-call handoff (/oncall), and which overrides overlap a shift (/schedule)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.oncall import Occurrence, OverrideSpan, RotationPlan, next_handoff, overlapping
from domain.policy import load_policy
from domain.sla import BREACHED, MET, PENDING, verdict

MSK = ZoneInfo("Europe/Moscow")
SHIFTS = load_policy(None).shifts
A, B = 11, 22


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


def test_sla_verdict_answered_by_the_deadline_is_met_later_breached_unanswered_pending_until_it_passes():
    deadline = msk(2026, 3, 16, 12, 0)
    late, now = deadline + timedelta(seconds=1), msk(2026, 3, 16, 13, 0)
    assert verdict(deadline, deadline, now) == MET  # answered at the very deadline
    assert verdict(deadline, late, now) == BREACHED
    assert verdict(None, late, now) == MET  # nothing to meet: never a breach
    assert verdict(deadline, None, deadline - timedelta(seconds=1)) == PENDING
    assert verdict(deadline, None, deadline) == BREACHED  # unanswered at the deadline
    assert verdict(None, None, now) == PENDING


def test_next_handoff_is_the_first_shift_to_start_after_the_moment_with_who_will_be_on_duty():
    rotations = {"night": RotationPlan("night", "daily", (A, B), date(2026, 3, 16))}
    nxt, who = next_handoff(msk(2026, 3, 16, 12, 0), SHIFTS, rotations, [])
    assert (nxt.shift, nxt.start, who) == ("night", msk(2026, 3, 16, 19, 0), A)
    nxt, who = next_handoff(msk(2026, 3, 16, 19, 0), SHIFTS, rotations, [])  # strictly after: not the one starting now
    assert (nxt.shift, nxt.start, who) == ("day", msk(2026, 3, 17, 10, 0), None)  # the day shift has no rotation
    nxt, who = next_handoff(msk(2026, 3, 17, 12, 0), SHIFTS, rotations, [])
    assert (nxt.shift, who) == ("night", B)
    # An override covering the start names its person, on /oncall as on the desk page: the same rule.
    swap = OverrideSpan(1, B, msk(2026, 3, 16, 18, 0), msk(2026, 3, 17, 2, 0))
    nxt, who = next_handoff(msk(2026, 3, 16, 12, 0), SHIFTS, rotations, [swap])
    assert (nxt.shift, who) == ("night", B)
    later = OverrideSpan(2, B, msk(2026, 3, 16, 20, 0), msk(2026, 3, 17, 2, 0))  # starts after the handoff
    assert next_handoff(msk(2026, 3, 16, 12, 0), SHIFTS, rotations, [later])[1] == A


def test_overrides_overlap_an_occurrence_only_when_they_share_time_with_it():
    occ = Occurrence("day", date(2026, 3, 16), msk(2026, 3, 16, 10, 0), msk(2026, 3, 16, 19, 0))
    before = OverrideSpan(1, A, msk(2026, 3, 16, 8, 0), msk(2026, 3, 16, 10, 0))  # ends as the shift starts
    inside = OverrideSpan(2, A, msk(2026, 3, 16, 12, 0), msk(2026, 3, 16, 13, 0))
    across_end = OverrideSpan(3, B, msk(2026, 3, 16, 18, 0), msk(2026, 3, 16, 20, 0))
    after = OverrideSpan(4, B, msk(2026, 3, 16, 19, 0), msk(2026, 3, 16, 21, 0))  # starts as the shift ends
    around = OverrideSpan(5, B, msk(2026, 3, 16, 9, 0), msk(2026, 3, 16, 20, 0))
    assert overlapping([before, inside, across_end, after, around], occ) == [inside, across_end, around]
