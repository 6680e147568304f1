"""The IMAP loop: takes new mail from the desk's mailbox, one mail per transaction, and flags it on the server
only after its intake committed.

Where it is in the mailbox lives in the database (`domain.mailbox`): the UIDVALIDITY and the last UID taken.
Each turn fetches the UIDs above it, reads each mail with BODY.PEEK (so the server does not mark it read
before the desk has it), takes it in, and then sets \\Seen. A crash between the commit and the flag leaves
an unread mail below the last UID: the next session flags it and takes nothing twice. Between turns the
loop waits in IDLE when the server offers it, else polls; a lost connection is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aioimaplib import IMAP4, IMAP4_SSL, AioImapException

import telemetry
from bot.mail_settings import MailServer
from domain import attempts, mailbox, updates
from domain.attempts import ATTEMPTS  # noqa: F401 (the count, where mail's tests look for it)
from domain.clock import Clock
from handlers.email.parser import ParsedMail, parse_mail

log = logging.getLogger(__name__)

# Servers drop an IDLE after 30 minutes (RFC 2177 says re-issue within 29); re-issue it well before.
IDLE_RENEW = timedelta(minutes=25)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
COMMAND_TIMEOUT = 60.0  # seconds for one command, a 25 MB fetch over a slow link included
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")

Deliver = Callable[[ParsedMail], Awaitable[str]]
# A mail given up on: owes the leads' notice (mail, error) in the transaction that records it.
OnUnreadable = Callable[[ParsedMail, str], Awaitable[None]]
# A mail whose intake fails every time (a value the database refuses, a bug) must not stop the mail behind
# it: after `ATTEMPTS` failed attempts it is recorded as unreadable (`domain.attempts`, shared with MAX).


class ImapError(Exception):
    """The server refused a command (bad login, no such mailbox): retried with backoff like a lost link."""


@dataclass
class MailboxHealth:
    """What /healthz says about the mailbox."""

    connected: bool = False
    since: datetime | None = None  # when the state last changed
    last_error: str = ""
    idle: bool = False  # waiting in IDLE (else polling)


def _check(response, what: str) -> None:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes))[:200]
        raise ImapError(f"{what}: {response.result} {detail.decode('utf-8', 'replace')}")


def _literal(lines: list) -> bytes | None:
    """The message bytes of a one-message FETCH answer (aioimaplib hands literals over as bytearray)."""
    return next((bytes(line) for line in lines if isinstance(line, bytearray)), None)


def _uidnext(lines: list) -> int | None:
    match = next((m for line in lines if isinstance(line, bytes) and (m := _UIDNEXT.search(line))), None)
    return int(match[1]) if match else None


def uid_sizes(lines: list) -> list[tuple[int, int]]:
    """(UID, size) pairs from a `UID FETCH … (UID RFC822.SIZE)` answer."""
    found = []
    for line in lines:
        if isinstance(line, bytes) and b"FETCH" in line:
            uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
            if uid and size:
                found.append((int(uid[1]), int(size[1])))
    return sorted(found)


class ImapLoop:
    def __init__(self, server: MailServer, clock: Clock, deliver: Deliver, max_size: int, poll: timedelta,
                 idle_renew: timedelta = IDLE_RENEW, backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
                 use_idle: bool = True, ssl_context: ssl.SSLContext | None = None,
                 on_unreadable: OnUnreadable | None = None) -> None:
        self.server, self.clock, self.deliver, self.on_unreadable = server, clock, deliver, on_unreadable
        self._skip: set[int] = set()  # read by people before the desk's first start: not taken in
        self._recheck_to = 0  # after a rebuild: mails up to this UID are first looked up by their headers
        self.ssl_context = ssl_context  # None: the system's trusted authorities (a test passes its own)
        # IDLE is renewed at least every `poll` too: a mail that arrives between a fetch and the next IDLE is
        # announced while no command is pending, and aioimaplib drops that announcement; the renewal's
        # fetch finds the mail within `poll` at worst.
        self.max_size, self.poll, self.idle_renew = max_size, poll, min(idle_renew, poll)
        self.backoff, self.use_idle = backoff, use_idle
        self.name = f"{server.user}@{server.host}/{server.mailbox}"
        self.health = MailboxHealth(since=clock.now())  # away from the start until the first login
        self.turns = 0  # fetch turns finished: tests wait on it instead of on time
        self._lost = asyncio.Event()

    async def run(self) -> None:
        """Forever: a session, and after a failure a pause that doubles up to a minute."""
        delay = self.backoff[0]
        while True:
            turns = self.turns
            try:
                await self.session()
            except (OSError, TimeoutError, AioImapException, ImapError) as exc:
                if self.turns > turns:
                    delay = self.backoff[0]  # the session worked for a while: start the backoff over
                self._set(False, f"{type(exc).__name__}: {exc}"[:300])
                log.warning("mailbox %s: %s; reconnecting in %.0fs", self.name, self.health.last_error, delay)
            except Exception as exc:  # the intake failed (the database is away): the mail stays unread, retried
                self._set(False, f"{type(exc).__name__}: {exc}"[:300])
                log.exception("mailbox %s: taking a mail in failed; trying again in %.0fs", self.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    def _set(self, connected: bool, error: str = "") -> None:
        if connected != self.health.connected:
            self.health.since = self.clock.now()
        self.health.connected, self.health.last_error = connected, error
        if not connected:
            self.health.idle = False

    def _client(self) -> IMAP4:
        # This connection's own event: a previous connection's late close must not mark this one lost.
        self._lost = event = asyncio.Event()

        def lost(_exc: Exception | None) -> None:
            event.set()

        if self.server.tls:
            client = IMAP4_SSL(self.server.host, self.server.port, timeout=COMMAND_TIMEOUT,
                               ssl_context=self.ssl_context)
            client.protocol.conn_lost_cb = lost
            return client
        return IMAP4(self.server.host, self.server.port, timeout=COMMAND_TIMEOUT, conn_lost_cb=lost)

    async def _do(self, command: Awaitable[Any]) -> Any:
        """Run one command, failing at once when the connection drops (aioimaplib would wait for its
        timeout)."""
        task = asyncio.ensure_future(command)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            raise ConnectionError("connection lost")
        return task.result()

    async def session(self) -> None:
        client = self._client()
        try:
            await self._do(client.wait_hello_from_server())
            _check(await self._do(client.login(self.server.user, self.server.password)), "LOGIN")
            selected = await self._do(client.select(self.server.mailbox))
            _check(selected, f"SELECT {self.server.mailbox}")
            match = next((m for line in selected.lines if isinstance(line, bytes)
                          and (m := _UIDVALIDITY.search(line))), None)
            if match is None:
                raise ImapError("SELECT gave no UIDVALIDITY")
            uidvalidity = int(match[1])
            position = await mailbox.position(self.name, uidvalidity, self.clock.now())
            if position.renumbered:
                log.warning("mailbox %s: UIDVALIDITY changed; looking at every mail again (taken ones are "
                            "recognised by Message-ID from their headers, not downloaded again)", self.name)
                self._recheck_to, self._skip = _uidnext(selected.lines) or 2 ** 63, set()
            if position.fresh:
                await self._first_start(client, uidvalidity, _uidnext(selected.lines))
            self._set(True)
            await self._flag_taken(client, position.last_uid)
            idle = self.use_idle and client.has_capability("IDLE")
            while True:
                await self.fetch_new(client, uidvalidity)
                self.turns += 1
                await (self._wait_idle(client) if idle else self._wait_poll(client))
        finally:
            self._set(False, self.health.last_error)
            # A polite LOGOUT when the link is up and no IDLE is in the way (the server would not answer it).
            if not self._lost.is_set() and not client.has_pending_idle():
                with contextlib.suppress(OSError, TimeoutError, AioImapException, AttributeError):
                    await asyncio.wait_for(client.logout(), 2)
            if client.protocol.transport is not None:
                client.protocol.transport.close()

    async def _search(self, client: IMAP4, criteria: str) -> list[int]:
        found = await self._do(client.uid_search(criteria, charset=None))
        _check(found, "SEARCH")
        return sorted(int(u) for line in found.lines[:-1] if isinstance(line, bytes) for u in line.split()
                      if u.isdigit())

    async def _first_start(self, client: IMAP4, uidvalidity: int, uidnext: int | None) -> None:
        """The desk's first look at a mailbox: take the mail nobody has read (a customer may be waiting on
        it), not the mail people read and handled before the desk was there (it would open an incident,
        page on-call and acknowledge each, months late)."""
        unseen = await self._search(client, "UNSEEN")
        if unseen:
            start = unseen[0] - 1
            self._skip = {uid for uid in await self._search(client, "SEEN") if uid > start}
        else:
            start = (uidnext - 1) if uidnext else max(await self._search(client, "ALL"), default=0)
        if start > 0:
            await mailbox.move_past(self.name, uidvalidity, start, self.clock.now())
        log.info("mailbox %s: first start; taking the unread mail after UID %d, leaving %d read ones alone",
                 self.name, start, len(self._skip))

    async def _flag_taken(self, client: IMAP4, last_uid: int) -> None:
        """Mails taken in but not flagged (the process stopped between the commit and the flag)."""
        if last_uid <= 0:
            return
        found = await self._do(client.uid_search(f"UID 1:{last_uid} UNSEEN", charset=None))
        _check(found, "SEARCH")
        uids = [int(u) for line in found.lines[:-1] if isinstance(line, bytes) for u in line.split() if u.isdigit()]
        for uid in (u for u in uids if u <= last_uid):
            _check(await self._do(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)")), "STORE")

    async def fetch_new(self, client: IMAP4, uidvalidity: int) -> None:
        last = (await mailbox.position(self.name, uidvalidity, self.clock.now())).last_uid
        listing = await self._do(client.uid("fetch", f"{last + 1}:*", "(UID RFC822.SIZE)"))
        _check(listing, "FETCH")
        # `n:*` always names the newest mail, even when its UID is below n: skip what was taken.
        for uid, size in (pair for pair in uid_sizes(listing.lines) if pair[0] > last):
            if uid in self._skip or (uid < self._recheck_to and await self._taken_before(client, uid)):
                await mailbox.move_past(self.name, uidvalidity, uid, self.clock.now())
                self._skip.discard(uid)
                if uid < self._recheck_to:
                    _check(await self._do(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)")), "STORE")
                continue
            oversize = size > self.max_size
            part = "BODY.PEEK[HEADER]" if oversize else "BODY.PEEK[]"
            fetched = await self._do(client.uid("fetch", str(uid), f"(UID {part})"))
            _check(fetched, "FETCH")
            raw = _literal(fetched.lines)
            if raw is None:
                continue  # expunged meanwhile: nothing to take
            parsed = parse_mail(raw, size=size, max_size=self.max_size)
            outcome = await self._take(uidvalidity, uid, parsed)
            telemetry.MAILS_IN.labels(outcome or "duplicate").inc()
            # Committed: now the server copy may say so. An oversize mail is also flagged for a person to
            # open in a mail program, since the desk kept only its headers; so is one the desk could not read.
            flags = r"(\Seen \Flagged)" if oversize or outcome == "unreadable" else r"(\Seen)"
            _check(await self._do(client.uid("store", str(uid), "+FLAGS.SILENT", flags)), "STORE")

    async def _take(self, uidvalidity: int, uid: int, parsed: ParsedMail) -> str | None:
        """Take one mail in; after `ATTEMPTS` failures of its intake (counted in the database, so across
        restarts), record it as unreadable instead (the leads are told, and the server copy is flagged for a
        person like any unreadable mail)."""
        def take_in(intake: Callable[[], Awaitable[str]]) -> Awaitable[str | None]:
            return mailbox.take_in(self.name, uidvalidity, uid, parsed.message_id, parsed.sender, self.clock.now(),
                                   intake)

        async def unreadable(error: str, tries: int) -> str | None:
            log.error("mailbox %s: mail UID %s failed its intake %d times (%s); recorded as unreadable",
                      self.name, uid, tries, error)

            async def record() -> str:
                if self.on_unreadable is not None:
                    await self.on_unreadable(parsed, error)
                return "unreadable"
            return await take_in(record)

        key = updates.channel_key("mail", f"{self.name}:{uidvalidity}:{uid}")
        return await attempts.take(key, lambda: take_in(lambda: self.deliver(parsed)), unreadable, self.clock.now)

    async def _taken_before(self, client: IMAP4, uid: int) -> bool:
        """After a rebuild: whether this mail was taken already, from its headers alone (a few hundred bytes
        instead of the whole mail). A mail without a Message-ID is known only by its content: downloaded."""
        fetched = await self._do(client.uid("fetch", str(uid), "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM)])"))
        _check(fetched, "FETCH")
        head = _literal(fetched.lines)
        if head is None:
            return False
        parsed = parse_mail(head)
        if parsed.message_id.endswith("@no-message-id.invalid>") or not parsed.sender:
            return False
        return await mailbox.taken(parsed.message_id, parsed.sender)

    async def _wait_idle(self, client: IMAP4) -> None:
        queue = client.protocol.idle_queue
        while not queue.empty():  # pushes that came before this IDLE: the fetch just done saw them
            queue.get_nowait()
        idle = await self._do(client.idle_start(timeout=self.idle_renew.total_seconds()))
        self.health.idle = True
        push = asyncio.ensure_future(client.wait_server_push(timeout=self.idle_renew.total_seconds() + 30))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            push.cancel()
            lost.cancel()
            self.health.idle = False
        if self._lost.is_set():
            raise ConnectionError("connection lost while idle")
        client.idle_done()
        await self._do(asyncio.wait_for(idle, COMMAND_TIMEOUT))

    async def _wait_poll(self, client: IMAP4) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), self.poll.total_seconds())
        if self._lost.is_set():
            raise ConnectionError("connection lost")
        _check(await self._do(client.noop()), "NOOP")
