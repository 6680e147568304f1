"""Mail loop rules (SPEC section 10: no mail ever answers an auto-reply, a bounce, a list or the desk itself).

Pure: the e-mail channel reads the headers into `MailFacts`; these rules say whether the mail is intake and
whether it may be acknowledged. Two kinds of machine mail are told apart:

* replies written by a machine (vacation notices, bounces, our own mail coming back) open nothing and get
  nothing: answering them is how mail loops start, and they carry no problem to work on;
* other machine mail (`Auto-Submitted: auto-generated`, `Precedence: bulk|junk|list`, a mailing list) is
  still intake, since a customer's monitoring may report a real outage that way, but it is never answered.

A person is acknowledged at most `ACKS_PER_HOUR` times in an hour, so even a loop the headers do not reveal
(a forwarding rule between two desks) dies out quickly; a whole domain at most `DOMAIN_ACKS_PER_HOUR` times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

ACKS_PER_HOUR = 3
# Acknowledgements to all the addresses of one domain in an hour: From is easy to forge, so a flood "from"
# made-up addresses of a customer's domain must not make the desk mail each of them (backscatter). The
# incidents are still opened; only the acknowledgements stop.
DOMAIN_ACKS_PER_HOUR = 10
ACK_WINDOW = timedelta(hours=1)
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
NOT_ANSWERED_PRECEDENCE = frozenset({"bulk", "junk", "list"})
AUTO_REPLY_PRECEDENCE = frozenset({"auto_reply", "auto-reply"})  # vacation programs that predate RFC 3834


@dataclass(frozen=True)
class MailFacts:
    """What the loop rules look at, read from a mail's headers by the e-mail channel."""

    sender: str  # the From address
    auto_submitted: str = ""  # the Auto-Submitted header (RFC 3834), "" when absent
    precedence: str = ""
    mailing_list: bool = False  # List-Id or List-Unsubscribe present
    autoreply_header: bool = False  # X-Autoreply / X-Autorespond: vacation programs that predate RFC 3834
    null_return_path: bool = False  # Return-Path: <> marks a delivery report
    delivery_report: bool = False  # multipart/report (a bounce or a read receipt)
    dmarc_failed_by: tuple[str, ...] = ()  # authserv-ids of Authentication-Results headers saying dmarc=fail


@dataclass(frozen=True)
class Verdict:
    intake: bool  # store it and thread it like any customer message
    acknowledge: bool  # the sender may get an acknowledgement (subject to the hourly limit)
    reason: str = ""  # why not, for the log and the metrics: own, bounce, auto-reply, automatic


def _local_part(address: str) -> str:
    return address.rpartition("@")[0].lower()


def classify(facts: MailFacts, desk_address: str) -> Verdict:
    sender = facts.sender.strip().lower()
    if sender == desk_address.strip().lower():
        return Verdict(False, False, "own")
    if (_local_part(sender) in BOUNCE_SENDERS or facts.null_return_path or facts.delivery_report
            or not sender):
        return Verdict(False, False, "bounce")
    auto = facts.auto_submitted.strip().lower().split(";", 1)[0].strip()
    if (auto == "auto-replied" or facts.autoreply_header
            or facts.precedence.strip().lower() in AUTO_REPLY_PRECEDENCE):
        return Verdict(False, False, "auto-reply")
    if (auto and auto != "no") or facts.precedence.strip().lower() in NOT_ANSWERED_PRECEDENCE or facts.mailing_list:
        return Verdict(True, False, "automatic")
    if any(_ours(authserv, desk_address) for authserv in facts.dmarc_failed_by):
        return Verdict(True, False, "forged")  # never echo a forger's subject to the address they named
    return Verdict(True, True)


def _ours(authserv_id: str, desk_address: str) -> bool:
    """Whether an Authentication-Results header names the desk's own mail domain (or a host in it) as the
    server that checked the mail. Anyone can write such a header into a mail, but one only takes an
    acknowledgement away, never grants anything, so a forged one harms only the forger's own mail."""
    desk_domain, authserv = domain_of(desk_address), authserv_id.strip().lower().rstrip(".")
    return bool(desk_domain) and (authserv == desk_domain or authserv.endswith(f".{desk_domain}"))


def ack_allowed(earlier: Iterable[datetime], now: datetime, limit: int = ACKS_PER_HOUR) -> bool:
    """Whether one more acknowledgement may go to a sender who was acknowledged at `earlier` moments."""
    recent = sum(1 for moment in earlier if now - ACK_WINDOW < moment <= now)
    return recent < limit


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()
