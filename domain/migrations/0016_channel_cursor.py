from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    # After 0015 (the outbox addressing conversations); re-pointed to the newest one at merge.
    dependencies = [('models', '0015_outbox_conversation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChannelCursor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(unique=True, max_length=16)),
                ('position', fields.BigIntField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'channel_cursor', 'app': 'models', 'pk_attr': 'id', 'table_description': "How far a channel's long polling has taken updates in (MAX's `marker`). Moved only once every update"},
            bases=['Model'],
        ),
    ]
