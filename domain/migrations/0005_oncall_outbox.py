from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_incident_deadline')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobClaim',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('claimed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'job_claim', 'app': 'models', 'pk_attr': 'key', 'table_description': "A periodic duty done once: a shift's handover, a day's gap warning, a period's report."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Outbox',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('rank', fields.SmallIntField(default=1)),
                ('chat_id', fields.BigIntField()),
                ('text', fields.TextField(unique=False)),
                ('markup', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reply_to', fields.BigIntField(null=True)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', null=True, db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('drop_if_answered', fields.BooleanField(default=False)),
                ('fallback', fields.BooleanField(default=False)),
                ('dedupe', fields.CharField(null=True, unique=True, max_length=128)),
                ('status', fields.CharField(default='pending', max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('message_id', fields.BigIntField(null=True)),
                ('error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'outbox', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'A notification the bot owes: written in the transaction that causes it, sent by the dispatcher.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Override',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.BigIntField()),
                ('starts_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'override', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person on duty for a time range, winning over the rotations while it lasts.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Rotation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('shift', fields.CharField(unique=True, max_length=32)),
                ('mode', fields.CharField(max_length=8)),
                ('members', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('anchor', fields.DateField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'rotation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The roster of one shift: people take turns daily or weekly, counted from `anchor` (a shift date).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Incident',
            name='alert_stage',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Incident',
            name='next_due_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
