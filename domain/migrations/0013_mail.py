from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    # The newest before it: the desk page's 0014 (after the channel core's 0011, after 0012).
    dependencies = [('models', '0014_desk')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MailboxState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.CharField(unique=True, max_length=255)),
                ('uidvalidity', fields.BigIntField()),
                ('last_uid', fields.BigIntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mail_mailbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How far the IMAP loop has taken a mailbox in.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailIn',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.CharField(unique=True, max_length=998)),
                ('mailbox', fields.CharField(max_length=255)),
                ('uidvalidity', fields.BigIntField()),
                ('uid', fields.BigIntField()),
                ('sender', fields.CharField(max_length=320)),
                ('outcome', fields.CharField(max_length=16)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mail_in', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every mail taken from the mailbox, by Message-ID.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailAck',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sender', fields.CharField(db_index=True, max_length=320)),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mail_ack', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An acknowledgement mailed to a sender.'},
            bases=['Model'],
        ),
    ]
