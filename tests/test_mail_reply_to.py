"""A staff answer goes to whoever of the customer wrote last, the reporter copied."""

from __future__ import annotations

from tests.mail_servers import wait_for
from tests.people import ENGINEER, engineer
from tests.test_attack_mail_reply import close, customer_mail, make_desk, sink  # noqa: F401 (fixture)


async def test_the_reporter_is_copied_when_another_wrote_last(stub, db, sink):  # noqa: F811
    desk = await make_desk(stub, db, sink.url)
    try:
        await customer_mail(desk, "ivan@acme.ru", "<first@acme.ru>", "Сервер недоступен", "Никто не может войти")
        await desk.say(ENGINEER, engineer, "/reply ACME-1 Проверьте журнал.")
        await desk.flush()
        await wait_for(lambda: sink.mails)
        alone = sink.mails[-1]
        assert alone["To"] == "ivan@acme.ru" and alone["Cc"] is None  # the reporter wrote last: no copy
        await customer_mail(desk, "petr@acme.ru", "<second@acme.ru>", "Re: [ACME-1] Сервер недоступен",
                            "Иван в отпуске, отвечайте мне.", key="ACME-1")
        await desk.say(ENGINEER, engineer, "/reply ACME-1 Пётр, перезапустите службу.")
        await desk.flush()
        await wait_for(lambda: len(sink.mails) >= 2)
        mail = sink.mails[-1]
        assert mail["To"] == "petr@acme.ru" and mail["Cc"] == "ivan@acme.ru"
    finally:
        await close(desk)
