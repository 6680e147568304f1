from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=16)),
                ('name', fields.CharField(max_length=256)),
                ('plan', fields.CharField(max_length=16)),
                ('users', fields.IntField(default=0)),
                ('cts', fields.IntField(default=0)),
                ('ha', fields.CharField(default='none', max_length=16)),
                ('tz', fields.CharField(null=True, max_length=64)),
                ('lang', fields.CharField(null=True, max_length=2)),
                ('report', fields.CharField(default='off', max_length=16)),
                ('contract_until', fields.DateField(null=True)),
                ('engineer_id', fields.BigIntField(null=True)),
                ('contacts', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('incident_seq', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CustomerChat',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField(unique=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='chats', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(default='', max_length=256)),
                ('kind', fields.CharField(max_length=16)),
                ('lang', fields.CharField(null=True, max_length=2)),
                ('bound_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('bound_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'customer_chat', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invitation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(max_length=8)),
                ('role', fields.CharField(null=True, max_length=16)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by', fields.BigIntField(null=True)),
                ('used_chat', fields.BigIntField(null=True)),
            ],
            options={'table': 'invitation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time deep link. Only a hash of the token is kept, so the database never reveals a live link.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Person',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(null=True, db_index=True, max_length=64)),
                ('full_name', fields.CharField(default='', max_length=256)),
                ('lang', fields.CharField(null=True, max_length=2)),
                ('can_dm', fields.BooleanField(null=True)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'person', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Everyone the bot has seen, so `@username` can be resolved to a Telegram id.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Staff',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.BigIntField(unique=True)),
                ('role', fields.CharField(max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('added_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'staff', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnboundChat',
            fields=[
                ('chat_id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(default='', max_length=256)),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_notice_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'unbound_chat', 'app': 'models', 'pk_attr': 'chat_id', 'table_description': 'A group that wrote to the bot before anyone bound it, and when it was last told so.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField(db_index=True)),
                ('message_id', fields.BigIntField()),
                ('user_id', fields.BigIntField(null=True)),
                ('author', fields.CharField(default='', max_length=256)),
                ('text', fields.TextField(default='', unique=False)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'unbound_message', 'app': 'models', 'unique_together': (('chat_id', 'message_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
