from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_foundation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=24)),
                ('number', fields.IntField()),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('plan', fields.CharField(max_length=16)),
                ('chat_id', fields.BigIntField()),
                ('thread_id', fields.BigIntField(null=True)),
                ('title', fields.CharField(default='', max_length=256)),
                ('priority', fields.CharField(max_length=2)),
                ('status', fields.CharField(default='new', max_length=16)),
                ('reporter_id', fields.BigIntField(null=True)),
                ('assignee_id', fields.BigIntField(null=True)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('responded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('responded_by', fields.BigIntField(null=True)),
                ('last_activity_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('summary', fields.TextField(default='', unique=False)),
                ('rating', fields.IntField(null=True)),
                ('contract_expired', fields.BooleanField(default=False)),
            ],
            options={'table': 'incident', 'app': 'models', 'indexes': [Index(fields=['chat_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IncidentEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor_id', fields.BigIntField(null=True)),
                ('kind', fields.CharField(max_length=24)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'incident_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every change of an incident: who, what, when. The card, reports and audits read these.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IncidentMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('chat_id', fields.BigIntField()),
                ('message_id', fields.BigIntField()),
                ('author_id', fields.BigIntField(null=True)),
                ('author', fields.CharField(default='', max_length=256)),
                ('source', fields.CharField(max_length=8)),
                ('text', fields.TextField(default='', unique=False)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incident_message', 'app': 'models', 'unique_together': (('chat_id', 'message_id'),), 'pk_attr': 'id', 'table_description': "A Telegram message that belongs to an incident: the customer's, staff's, or the bot's own."},
            bases=['Model'],
        ),
    ]
