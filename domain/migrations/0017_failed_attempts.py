from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    # After 0016 (the channel cursor); re-pointed to the newest one at merge.
    dependencies = [('models', '0016_channel_cursor')]

    initial = False

    operations = [
        # Failed intake attempts of one input (a MAX update, a mail), counted across restarts.
        ops.CreateModel(
            name='FailedAttempt',
            fields=[
                ('key', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('attempts', fields.IntField(default=0)),
                ('error', fields.TextField(default='')),
                ('failed_at', fields.DatetimeField(auto_now=False, auto_now_add=False, db_index=True)),
            ],
            options={'table': 'failed_attempt', 'app': 'models', 'pk_attr': 'key', 'table_description': 'How often taking one input in has failed (a MAX update, a mail)'},
            bases=['Model'],
        ),
        # A parked update of another channel (a MAX update set aside) is not Telegram's to replay.
        ops.AddField(
            model_name='ParkedUpdate',
            name='channel',
            field=fields.CharField(default='telegram', max_length=16),
        ),
    ]
