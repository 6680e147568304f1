from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

def _ref(column: str) -> str:
    return f"CAST({column} AS VARCHAR(320))"


def _kind(column: str) -> str:
    return (f"CASE WHEN {column} < -1000000000000 THEN 'supergroup' WHEN {column} < 0 THEN 'group' "
            "ELSE 'private' END")


FILL = [
    ops.RunSQL(
        "INSERT INTO conversation (channel, ref, customer_id, title, kind, lang, bound_at, bound_by, unreachable_since) "
        f"SELECT 'telegram', {_ref('chat_id')}, customer_id, title, kind, lang, bound_at, bound_by, unreachable_since "
        "FROM customer_chat"
    ),
    ops.RunSQL(
        "INSERT INTO conversation (channel, ref, title, kind) "
        f"SELECT 'telegram', {_ref('chat_id')}, '', {_kind('chat_id')} FROM ("
        "SELECT chat_id FROM incident UNION SELECT chat_id FROM incident_message "
        "UNION SELECT used_chat FROM invitation WHERE used_chat IS NOT NULL) AS named "
        f"WHERE {_ref('chat_id')} NOT IN (SELECT ref FROM conversation WHERE channel = 'telegram')"
    ),
    ops.RunSQL(
        "UPDATE incident SET topic = CAST(thread_id AS VARCHAR(64)), conversation_id = (SELECT c.id FROM "
        f"conversation c WHERE c.channel = 'telegram' AND c.ref = {_ref('incident.chat_id')})"
    ),
    ops.RunSQL(
        "UPDATE incident_message SET ref = CAST(message_id AS VARCHAR(255)), conversation_id = (SELECT c.id FROM "
        f"conversation c WHERE c.channel = 'telegram' AND c.ref = {_ref('incident_message.chat_id')})"
    ),
    ops.RunSQL(
        "UPDATE invitation SET used_conversation_id = (SELECT c.id FROM conversation c "
        f"WHERE c.channel = 'telegram' AND c.ref = {_ref('invitation.used_chat')}) WHERE used_chat IS NOT NULL"
    ),
    ops.RunSQL(
        "INSERT INTO unbound_conversation (channel, ref, title, first_seen, last_notice_at) "
        f"SELECT 'telegram', {_ref('chat_id')}, title, first_seen, last_notice_at FROM unbound_chat"
    ),
    ops.RunSQL(  # messages of a chat whose row is gone (never expected; kept rather than lost)
        "INSERT INTO unbound_conversation (channel, ref, title, first_seen) "
        f"SELECT 'telegram', {_ref('chat_id')}, '', MIN(received_at) FROM unbound_message "
        f"WHERE {_ref('chat_id')} NOT IN (SELECT ref FROM unbound_conversation) GROUP BY chat_id"
    ),
    ops.RunSQL(
        "UPDATE unbound_message SET ref = CAST(message_id AS VARCHAR(255)), conversation_id = (SELECT u.id FROM "
        f"unbound_conversation u WHERE u.channel = 'telegram' AND u.ref = {_ref('unbound_message.chat_id')})"
    ),
    # Everyone seen so far was seen on Telegram, and their id is their Telegram user id.
    ops.RunSQL(f"INSERT INTO identity (channel, ref, person_id) SELECT 'telegram', {_ref('id')}, id FROM person"),
]


class Migration(migrations.Migration):
    # After 0012 (outbox intents), which landed first and reads `customer_chat`, dropped here: the chain
    # runs 0010 -> 0012 -> 0011.
    dependencies = [('models', '0012_outbox_intents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('ref', fields.CharField(max_length=320)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(default='', max_length=256)),
                ('kind', fields.CharField(max_length=16)),
                ('lang', fields.CharField(null=True, max_length=2)),
                ('bound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('bound_by', fields.BigIntField(null=True)),
                ('unreachable_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'conversation', 'app': 'models', 'unique_together': (('channel', 'ref'),), 'indexes': [Index(fields=['customer_id'])], 'pk_attr': 'id', 'table_description': 'Where a customer talks to the desk on one channel: a Telegram group (`ref` its chat id), an e-mail'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Identity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('ref', fields.CharField(max_length=320)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='identities', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'identity', 'app': 'models', 'unique_together': (('channel', 'ref'),), 'indexes': [Index(fields=['person_id', 'channel'])], 'pk_attr': 'id', 'table_description': "A person's address on a channel: a Telegram user id, an e-mail address (lower-case), …"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnboundConversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('ref', fields.CharField(max_length=320)),
                ('title', fields.CharField(default='', max_length=256)),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_notice_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'unbound_conversation', 'app': 'models', 'unique_together': (('channel', 'ref'),), 'pk_attr': 'id', 'table_description': 'A conversation that wrote to the desk before anyone bound it, and when it was last told so.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Incident',
            name='conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='conversation_id', null=True, db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Incident',
            name='topic',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='IncidentMessage',
            name='conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='conversation_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='IncidentMessage',
            name='ref',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Invitation',
            name='used_conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='used_conversation_id', null=True, db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.SET_NULL),
        ),
        ops.RenameField(
            model_name='UnboundMessage',
            old_name='user_id',
            new_name='person_id',
        ),
        ops.AddField(
            model_name='UnboundMessage',
            name='conversation',
            field=fields.ForeignKeyField('models.UnboundConversation', source_field='conversation_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='UnboundMessage',
            name='ref',
            field=fields.CharField(null=True, max_length=255),
        ),
        # Today's rows in the new shape, with plain SQL that SQLite and PostgreSQL both run. Telegram ids
        # become the refs (as text); every chat that incidents, messages or invitations name becomes a
        # conversation (a chat unbound since keeps its incidents, with no customer).
        *FILL,
        ops.RemoveIndex(
            model_name='Incident',
            name=None,
            fields=['chat_id', 'status'],
        ),
        ops.RemoveField(model_name='Incident', name='chat_id'),
        ops.RemoveField(model_name='Incident', name='thread_id'),
        # The old key goes with its columns (SQLite rebuilds the table without it; PostgreSQL drops a
        # constraint together with the columns it names).
        ops.AlterModelOptions(name='IncidentMessage', options={'table': 'incident_message', 'app': 'models', 'unique_together': (), 'indexes': [Index(fields=['incident_id'])], 'pk_attr': 'id'}),
        ops.RemoveField(model_name='IncidentMessage', name='chat_id'),
        ops.RemoveField(model_name='IncidentMessage', name='message_id'),
        ops.RemoveField(model_name='Invitation', name='used_chat'),
        # The old key goes with its columns (SQLite rebuilds the table without it; PostgreSQL drops a
        # constraint together with the columns it names).
        ops.AlterModelOptions(name='UnboundMessage', options={'table': 'unbound_message', 'app': 'models', 'unique_together': (), 'pk_attr': 'id'}),
        ops.RemoveField(model_name='UnboundMessage', name='chat_id'),
        ops.RemoveField(model_name='UnboundMessage', name='message_id'),
        ops.AlterField(
            model_name='Incident',
            name='conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='IncidentMessage',
            name='conversation',
            field=fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='IncidentMessage',
            name='ref',
            field=fields.CharField(max_length=255),
        ),
        ops.AlterField(
            model_name='UnboundMessage',
            name='conversation',
            field=fields.ForeignKeyField('models.UnboundConversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='UnboundMessage',
            name='ref',
            field=fields.CharField(max_length=255),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['conversation_id', 'status']),
        ),
        ops.AlterModelOptions(
            name='IncidentMessage',
            options={'table': 'incident_message', 'app': 'models', 'unique_together': (('conversation', 'ref'),), 'indexes': [Index(fields=['incident_id'])], 'pk_attr': 'id', 'table_description': "A message that belongs to an incident: the customer's, staff's, or the bot's own. `ref` is the"},
        ),
        ops.AddConstraint(
            model_name='IncidentMessage',
            constraint=UniqueConstraint(fields=('conversation', 'ref'), name=None),
        ),
        ops.AlterModelOptions(
            name='Person',
            options={'table': 'person', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Everyone the desk has seen, on any channel (their addresses are `Identity` rows).'},
        ),
        ops.AddConstraint(
            model_name='UnboundMessage',
            constraint=UniqueConstraint(fields=('conversation', 'ref'), name=None),
        ),
        # SQLite rebuilt `incident` and `incident_message` above, and tortoise's rebuild leaves their other
        # indexes behind: put them back under their old names (on PostgreSQL they are still there).
        *[ops.RunSQL(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({columns})') for name, table, columns in (
            ("idx_incident_next_du_abe345", "incident", '"next_due_at"'),
            ("idx_incident_status_16b94b", "incident", '"status", "resolved_at"'),
            ("idx_incident_custome_472c20", "incident", '"customer_id", "status"'),
            ("idx_incident_me_inciden_bd727b", "incident_message", '"incident_id"'),
        )],
        ops.DeleteModel(name='CustomerChat'),
        ops.DeleteModel(name='UnboundChat'),
        ]
