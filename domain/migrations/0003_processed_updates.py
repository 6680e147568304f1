from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_incidents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProcessedUpdate',
            fields=[
                ('update_id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('handled_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'processed_update', 'app': 'models', 'pk_attr': 'update_id', 'table_description': 'Telegram update ids already handled: a redelivered update is skipped (kept a few days).'},
            bases=['Model'],
        ),
    ]
