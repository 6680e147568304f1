from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Outbox',
            name='photo',
            field=fields.BinaryField(null=True),
        ),
    ]
