"""MAX updates, as MAX sends them (JSON, read with `maxapi`'s models), turned into plain values the desk takes in.

What the desk reads: a message (`message_created`: its chat, its `mid`, its sender, text, attachments as
metadata, the message it replies to from `link` of type `reply`; a message that is only a forward, the
forwarded words), a button press (`message_callback`: its
`callback_id`, `payload`, who pressed it and the message the button was on), the bot added to or removed from a
chat. Any other update (a dialog muted, a title changed) is read and left alone. Each update carries a `key`,
the channel's own name of it, which the update ledger (`domain.updates.channel_key`) remembers as handled.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maxapi.enums.attachment import AttachmentType
from maxapi.types.updates import UpdateUnionAdapter
from pydantic import ValidationError

from domain.text import clean

log = logging.getLogger(__name__)
NAME = "max"


@dataclass(frozen=True)
class MaxUpdate:
    key: str  # the update's own reference: the ledger's name of it
    kind: str  # message | edited | button | started | added | removed | renamed | other
    chat: str | None = None  # the chat's id as text (a dialog's too)
    dialog: bool = False  # a private dialog with the bot, not a group chat
    sender: str | None = None  # the user's id as text
    name: str = ""  # the sender's display name
    lang: str | None = None  # the sender's app language (`user_locale`)
    ref: str | None = None  # a message's `mid`; for a button, the `mid` of the message it was on
    text: str = ""
    reply_to: str | None = None  # the `mid` this message answers
    attachments: list[dict[str, str]] = field(default_factory=list)
    payload: str | None = None  # a button's payload
    callback_id: str | None = None
    sent_at: datetime | None = None


class Unreadable(Exception):
    """An update this version cannot read (MAX added or changed a field)."""


def _moment(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


def _name(user) -> str:
    if user is None:
        return ""
    return " ".join(part for part in (user.first_name, user.last_name) if part) or (user.username or "")


def _attachments(body) -> list[dict[str, str]]:
    """Attachments as the desk keeps them: what kind, and the file's name and size where MAX gives them.
    Buttons are no attachment."""
    kept = []
    for item in (body.attachments or []) if body is not None else []:
        kind = str(getattr(item, "type", "") or "")
        if kind == "inline_keyboard":
            continue
        entry = {"kind": {"image": "photo", "file": "document"}.get(kind, kind)}
        if getattr(item, "filename", None):
            entry["name"] = str(item.filename)
        if getattr(item, "size", None):
            entry["size"] = str(item.size)
        kept.append(entry)
    return kept


def _known_attachments_only(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The update without the attachments of a kind `maxapi` does not know, and those kinds (kept by name)."""
    message = raw.get("message")
    body = message.get("body") if isinstance(message, dict) else None
    items = body.get("attachments") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return raw, []
    known = {kind.value for kind in AttachmentType}
    kept = [item for item in items if isinstance(item, dict) and item.get("type") in known]
    unknown = [str(item.get("type"))[:32] if isinstance(item, dict) else "unknown" for item in items
               if not (isinstance(item, dict) and item.get("type") in known)]
    if not unknown:
        return raw, []
    return {**raw, "message": {**message, "body": {**body, "attachments": kept}}}, unknown


def _press_anyway(raw: dict[str, Any]) -> MaxUpdate | None:
    """A button press `maxapi` cannot read (a payload that is no text, a message of an odd shape) is still a
    press someone waits on: read what answering it needs, its payload left out (so it changes nothing)."""
    callback = raw.get("callback") if raw.get("update_type") == "message_callback" else None
    if not isinstance(callback, dict) or not isinstance(callback.get("callback_id"), str):
        return None
    message = raw.get("message") if isinstance(raw.get("message"), dict) else {}
    recipient = message.get("recipient") if isinstance(message.get("recipient"), dict) else {}
    chat, user = recipient.get("chat_id"), callback.get("user") if isinstance(callback.get("user"), dict) else {}
    sender, lang = user.get("user_id"), raw.get("user_locale")
    return MaxUpdate(key=f"c:{callback['callback_id']}", kind="button",
                     chat=str(chat) if isinstance(chat, int) else None, dialog=recipient.get("chat_type") == "dialog",
                     sender=str(sender) if isinstance(sender, int) else None,
                     lang=lang if isinstance(lang, str) else None,
                     callback_id=callback["callback_id"])


def read(raw: dict[str, Any]) -> MaxUpdate:
    """One update as the desk takes it. Raises `Unreadable` for one `maxapi` cannot read."""
    unknown: list[str] = []
    try:
        update = UpdateUnionAdapter.validate_python(raw)
    except ValidationError as error:
        press = _press_anyway(raw)
        if press is not None:
            return press
        raw, unknown = _known_attachments_only(raw)
        try:  # a newer client's attachment kind: the words beside it are still a customer's report
            update = UpdateUnionAdapter.validate_python(raw) if unknown else None
        except ValidationError:
            update = None
        if update is None:
            raise Unreadable(str(error).splitlines()[0]) from None
    kind = raw.get("update_type")
    when = _moment(getattr(update, "timestamp", None))
    if kind in ("message_created", "message_edited") and update.message is not None:
        message = update.message
        body, ref = message.body, message.body.mid if message.body is not None else None
        forwarded = message.link.message if message.link is not None and str(message.link.type) == "forward" else None
        own_words = body is not None and bool(body.text or body.attachments)
        if forwarded is not None and kind == "message_created" and not own_words:
            # Only a forward (MAX gives no body, or an empty one): its words are the customer's, as a Telegram
            # forward's are. Without a body its id is the moment and the original's (a forward is never edited).
            body, ref = forwarded, ref or f"fwd:{message.timestamp}:{forwarded.mid}"
        if body is None:  # nothing of anyone's words
            return MaxUpdate(f"{kind}:{update.timestamp}", "other")
        if message.sender is not None and message.sender.is_bot:  # the desk's own words, or another bot's:
            return MaxUpdate(f"{kind}:{ref}", "other")  # no customer wrote them (Telegram shows bots none)
        recipient = message.recipient
        dialog = str(recipient.chat_type) == "dialog"
        reply = message.link.message.mid if message.link is not None and str(message.link.type) == "reply" else None
        sender = message.sender
        return MaxUpdate(
            key=f"m:{ref}" if kind == "message_created" else f"e:{ref}:{update.timestamp}",
            kind="message" if kind == "message_created" else "edited",
            chat=str(recipient.chat_id) if recipient.chat_id is not None else None, dialog=dialog,
            sender=str(sender.user_id) if sender is not None else None, name=_name(sender),
            lang=getattr(update, "user_locale", None), ref=ref, text=clean(body.text or ""), reply_to=reply,
            attachments=_attachments(body) + [{"kind": kind} for kind in unknown],
            sent_at=_moment(message.timestamp) or when)
    if kind == "message_callback":
        callback = update.callback
        message = update.message
        return MaxUpdate(
            key=f"c:{callback.callback_id}", kind="button",
            chat=str(message.recipient.chat_id) if message is not None and message.recipient.chat_id is not None
            else None,
            dialog=message is not None and str(message.recipient.chat_type) == "dialog",
            sender=str(callback.user.user_id), name=_name(callback.user), lang=getattr(update, "user_locale", None),
            ref=message.body.mid if message is not None and message.body is not None else None,
            payload=callback.payload, callback_id=callback.callback_id, sent_at=_moment(callback.timestamp) or when)
    if kind == "bot_started":  # a person opened a dialog with the bot
        return MaxUpdate(f"{kind}:{update.chat_id}:{update.timestamp}", "started", chat=str(update.chat_id),
                         dialog=True, sender=str(update.user.user_id), name=_name(update.user),
                         lang=getattr(update, "user_locale", None), sent_at=when)
    if kind == "chat_title_changed":  # the chat's new name: its conversation's title follows
        return MaxUpdate(f"{kind}:{update.chat_id}:{update.timestamp}", "renamed", chat=str(update.chat_id),
                         text=clean(update.title or ""), sent_at=when)
    if kind in ("bot_added", "bot_removed"):
        return MaxUpdate(f"{kind}:{update.chat_id}:{update.timestamp}", "added" if kind == "bot_added" else "removed",
                         chat=str(update.chat_id), sender=str(update.user.user_id), name=_name(update.user),
                         sent_at=when)
    return MaxUpdate(f"{kind}:{json.dumps(raw, sort_keys=True)}", "other", sent_at=when)
