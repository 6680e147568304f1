from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Owed rows addressed to a customer's Telegram chat by its id now name the chat's conversation; a chat with
# no conversation row (the staff chat) keeps its id. Rows already sent keep theirs (`message_id` too).
TO_CONVERSATIONS = [
    ops.RunSQL(
        "UPDATE outbox SET conversation_id = (SELECT c.id FROM conversation c WHERE c.channel = outbox.channel "
        "AND c.ref = CAST(outbox.chat_id AS VARCHAR(320))) "
        "WHERE chat_id IS NOT NULL AND status IN ('pending', 'sending')"
    ),
    ops.RunSQL("UPDATE outbox SET chat_id = NULL WHERE conversation_id IS NOT NULL"),
]


class Migration(migrations.Migration):
    dependencies = [('models', '0013_mail')]

    initial = False

    operations = [
        ops.AddField(model_name='Outbox', name='conversation_id', field=fields.IntField(null=True)),
        ops.AddField(model_name='Outbox', name='sent_ref', field=fields.CharField(null=True, max_length=255)),
        *TO_CONVERSATIONS,
    ]
