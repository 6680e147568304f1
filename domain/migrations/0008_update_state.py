from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_outbox_photo')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='ProcessedUpdate',
            options={'table': 'processed_update', 'app': 'models', 'pk_attr': 'update_id', 'table_description': 'Telegram update ids being handled or handled: a redelivered update is skipped (kept a few days).'},
        ),
        ops.AddField(
            model_name='ProcessedUpdate',
            name='state',
            field=fields.CharField(default='done', max_length=8),
        ),
    ]
