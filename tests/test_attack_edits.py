"""Edits, as Telegram clients send them: a message edited into a command."""

import pytest

from tests.people import LEAD, lead


def edit_of(message: dict, text: str) -> dict:
    return {**message, "text": text, "edit_date": message["date"] + 5,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}


@pytest.mark.xfail(strict=True, reason="a lead who fixes a mistyped command by editing it gets no answer at all "
                                       "(a stranger's edited command is answered with a refusal)")
async def test_a_command_fixed_by_an_edit_is_answered(desk):
    typo = await desk.say(LEAD, lead, "/customerz")
    assert "unknown" in desk.last_reply(LEAD).lower()
    mark = desk.stub.mark()
    await desk.feed({"edited_message": edit_of(typo, "/customers")})
    # either run it, or say that an edit is not run and the command must be sent again: never silence
    assert desk.replies(LEAD, mark), "the edited command was silently ignored"
