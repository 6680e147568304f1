from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_telegram_edges')]

    initial = False

    operations = [
        # The language of a person's Telegram app, remembered so that a ping written later (with no
        # update in hand) is in the language they read when they have not chosen one with /lang.
        ops.AddField(
            model_name='Person',
            name='tg_lang',
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
