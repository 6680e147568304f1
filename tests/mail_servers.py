"""Real mail servers for the tests: pymap (an IMAP server keeping mail in memory, run as its own process),
an aiosmtpd SMTP sink, and a TCP relay that can cut every connection through it (a lost link)."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aioimaplib import IMAP4
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

USER, PASSWORD = "desk", "imap-s3cret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(condition, timeout: float = 20.0, step: float = 0.02):
    """Poll until `condition()` is truthy (it may be a coroutine function); the timeout only guards a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(step)


def _pymap() -> str:
    found = Path(sys.executable).with_name("pymap")
    return str(found) if found.exists() else (shutil.which("pymap") or "pymap")


class ImapServer:
    """pymap's in-memory backend with one user; tests deliver mail with APPEND and read flags back."""

    started = 0  # servers started by this process: each has a user of its own (`start`)

    def __init__(self) -> None:
        self.port = free_port()
        self.user = USER
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start pymap and make sure it is this one that answers on its port. The port was free when it was
        picked, but another test run on the machine may take it meanwhile: pymap then exits, the other
        run's server answers in its place, and a test talking IMAP to that would wait for ever. Only this
        server knows its user, so a login proves it is ours; another port is tried if pymap exited."""
        ImapServer.started += 1
        self.user = f"{USER}{os.getpid()}n{ImapServer.started}"
        for _ in range(5):
            self.process = subprocess.Popen(
                [_pymap(), "--host", "127.0.0.1", "--port", str(self.port), "--no-tls", "dict",
                 "--demo-user", self.user, "--demo-password", PASSWORD],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers():
                return
            self.stop()
            self.port = free_port()
        raise RuntimeError("pymap did not start")

    def _answers(self) -> bool:
        """Until this pymap takes a login (the deadline only guards a server that never starts)."""
        deadline = time.monotonic() + 60
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with imaplib.IMAP4("127.0.0.1", self.port, timeout=5) as probe:
                    probe.login(self.user, PASSWORD)
                return True
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def url(self, mailbox: str = "INBOX", port: int | None = None) -> str:
        return f"imap://{self.user}:{PASSWORD}@127.0.0.1:{port or self.port}/{mailbox}"

    async def client(self, mailbox: str | None = None) -> IMAP4:
        client = IMAP4("127.0.0.1", self.port, timeout=10)
        await client.wait_hello_from_server()
        await client.login(self.user, PASSWORD)
        if mailbox:
            await client.select(mailbox)
        return client

    async def create(self, mailbox: str) -> None:
        client = await self.client()
        assert (await client.create(mailbox)).result == "OK"
        await client.logout()

    async def delete(self, mailbox: str) -> None:
        client = await self.client()
        assert (await client.delete(mailbox)).result == "OK"
        await client.logout()

    async def deliver(self, mailbox: str, *mails: bytes | EmailMessage) -> None:
        client = await self.client()
        for mail in mails:
            raw = bytes(mail) if isinstance(mail, EmailMessage) else mail
            assert (await client.append(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                                        mailbox=mailbox)).result == "OK"
        await client.logout()

    async def flags(self, mailbox: str) -> dict[int, set[str]]:
        """UID → flags of every mail in the mailbox."""
        client = await self.client(mailbox)
        answer = await client.uid("fetch", "1:*", "(UID FLAGS)")
        await client.logout()
        found = {}
        for line in answer.lines:
            if isinstance(line, bytes) and b"FETCH" in line:
                uid = re.search(rb"UID (\d+)", line)
                flags = re.search(rb"FLAGS \(([^)]*)\)", line)
                if uid and flags:
                    found[int(uid[1])] = set(flags[1].decode().split()) - {"\\Recent"}
        return found


class Relay:
    """A TCP relay in front of a server; `cut()` drops every connection through it, as a flaky link does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def start(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        """With `ssl_context` the relay speaks TLS to its clients (an imaps:// server in front of pymap,
        which itself offers only STARTTLS)."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def cut(self) -> None:
        for writer in list(self.writers):
            transport = writer.transport
            transport.abort()
        self.writers.clear()

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


class _Sink:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls the hook by this name
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 OK"


class SmtpSink:
    """aiosmtpd in a thread of its own, keeping what it receives; with `tls` ("smtps" or "starttls") and a
    server context it speaks TLS from the first byte or after STARTTLS, and with `login` it requires AUTH."""

    def __init__(self, tls: str = "", context: ssl.SSLContext | None = None,
                 login: tuple[str, str] | None = None) -> None:
        self.handler = _Sink()
        self.port = free_port()
        self.logins: list[str] = []
        options: dict = {}
        if tls == "smtps":
            options["ssl_context"] = context
        elif tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        if login:
            def check(server, session, envelope, mechanism, auth_data):
                ok = (auth_data.login.decode(), auth_data.password.decode()) == login
                if ok:
                    self.logins.append(auth_data.login.decode())
                # handled=False: aiosmtpd answers a refusal itself (535); with its default (True) it answers
                # nothing, and the client waits out its whole timeout.
                return AuthResult(success=ok, handled=False)

            # aiosmtpd counts only STARTTLS as TLS for AUTH; over smtps the whole session is TLS anyway.
            options.update(authenticator=check, auth_required=True, auth_require_tls=tls == "starttls")
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def mails(self) -> list[EmailMessage]:
        return [mail for _, _, mail in self.handler.received]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"
