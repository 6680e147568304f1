from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    # After 0016 until 0017 (gapsm's failed attempts) lands on main; re-pointed to it at merge.
    dependencies = [('models', '0016_channel_cursor')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Invitation',
            name='burnt_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
