"""A file in a staff answer is never dropped without a word: only an answer's text goes to the customer."""

from __future__ import annotations

from domain.models import Outbox
from tests.people import ENGINEER, engineer
from tests.test_attack_mail_reply import close, customer_mail, make_desk, sink  # noqa: F401 (fixture)
from tests.test_reply import bot_message


async def test_a_file_without_text_sends_nothing_and_says_why(stub, db, sink):  # noqa: F811
    desk = await make_desk(stub, db, sink.url)
    try:
        await customer_mail(desk, "ivan@acme.ru", "<first@acme.ru>", "Сервер недоступен", "Никто не может войти")
        await desk.say(ENGINEER, engineer, "/incident ACME-1")
        card = bot_message(next(m for m in reversed(desk.stub.delivered) if int(m["chat_id"]) == ENGINEER))
        document = {"file_id": "doc-1", "file_unique_id": "u-doc-1", "file_name": "fix.conf", "file_size": 120}
        await desk.say(ENGINEER, engineer, None, document=document, reply_to_message=card)
        await desk.flush()
        assert await Outbox.filter(kind="reply").count() == 0
        assert "nothing was sent for ACME-1" in desk.last_reply(ENGINEER)
    finally:
        await close(desk)


async def test_a_file_with_a_caption_sends_the_text_and_says_the_file_was_not(stub, db, sink):  # noqa: F811
    desk = await make_desk(stub, db, sink.url)
    try:
        await customer_mail(desk, "ivan@acme.ru", "<first@acme.ru>", "Сервер недоступен", "Никто не может войти")
        await desk.say(ENGINEER, engineer, "/incident ACME-1")
        card = bot_message(next(m for m in reversed(desk.stub.delivered) if int(m["chat_id"]) == ENGINEER))
        photo = [{"file_id": "p-1", "file_unique_id": "u-p-1", "width": 10, "height": 10}]
        await desk.say(ENGINEER, engineer, None, caption="Вот скриншот настроек.", photo=photo, reply_to_message=card)
        await desk.flush()
        assert await Outbox.filter(kind="reply").count() == 1
        assert "The file was NOT sent" in desk.last_reply(ENGINEER)
    finally:
        await close(desk)
