"""The outbox holds notices, not Telegram messages: kind, incident, recipient (a person or a chat on a
channel) and parameters; the channel renders a row in its reader's language when it sends it.

Rows written before hold finished text that cannot be turned back into parameters. They are kept as
they are, their text, buttons, photo, reply and topic moved into `params` (`text`, `markup`, `photo`
as base64, `reply_to`, `topic`): the Telegram channel sends such a row as written. Sent rows are
converted too, so a ping sent before the upgrade is still rewritten when someone takes its incident.
A positive chat id that is no customer's chat was a person's private chat (`domain.lang.of_recipient`).
"""

import base64
import json

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def to_intents(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"

    def mark(n: int) -> str:
        return f"${n}" if postgres else "?"

    customer_chats = {row["chat_id"] for row in await client.execute_query_dict("SELECT chat_id FROM customer_chat")}
    rows = await client.execute_query_dict(
        "SELECT id, chat_id, text, markup, photo, reply_to, thread_id FROM outbox")
    for row in rows:
        markup = row["markup"]
        if isinstance(markup, str):
            markup = json.loads(markup)
        params = {"text": row["text"]}
        if markup:
            params["markup"] = markup
        if row["photo"] is not None:
            params["photo"] = base64.b64encode(bytes(row["photo"])).decode()
        if row["reply_to"] is not None:
            params["reply_to"] = row["reply_to"]
        if row["thread_id"] is not None:
            params["topic"] = row["thread_id"]
        person = row["chat_id"] > 0 and row["chat_id"] not in customer_chats
        await client.execute_query(
            f"UPDATE outbox SET channel = 'telegram', params = {mark(1)}, person_id = {mark(2)}, chat_id = {mark(3)} "
            f"WHERE id = {mark(4)}",
            [json.dumps(params, ensure_ascii=False), row["chat_id"] if person else None,
             None if person else row["chat_id"], row["id"]])


class Migration(migrations.Migration):
    dependencies = [('models', '0010_person_tg_lang')]

    initial = False

    operations = [
        # Added nullable, filled below, then made NOT NULL: the schema editor writes no DEFAULT when adding.
        ops.AddField(model_name='Outbox', name='channel', field=fields.CharField(null=True, max_length=16)),
        ops.AddField(model_name='Outbox', name='person_id', field=fields.BigIntField(null=True)),
        ops.AlterField(model_name='Outbox', name='chat_id', field=fields.BigIntField(null=True)),
        # Nullable in the schema only: a callable default cannot be written into the table's DDL.
        ops.AddField(model_name='Outbox', name='params', field=fields.JSONField(default=dict, null=True)),
        ops.AddField(model_name='Outbox', name='rest', field=fields.TextField(null=True, unique=False)),
        ops.RunPython(to_intents),
        ops.AlterField(model_name='Outbox', name='channel',
                       field=fields.CharField(default='telegram', max_length=16)),
        ops.RemoveField(model_name='Outbox', name='text'),
        ops.RemoveField(model_name='Outbox', name='markup'),
        ops.RemoveField(model_name='Outbox', name='photo'),
        ops.RemoveField(model_name='Outbox', name='reply_to'),
        ops.RemoveField(model_name='Outbox', name='thread_id'),
    ]
