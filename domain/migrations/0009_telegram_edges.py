from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_update_state')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ParkedUpdate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('update_id', fields.BigIntField(null=True, db_index=True)),
                ('chat_id', fields.BigIntField(null=True)),
                ('payload', fields.TextField(unique=False)),
                ('error', fields.TextField(default='', unique=False)),
                ('reason', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='parked', db_index=True, max_length=16)),
                ('parked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'parked_update', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An update that could not be handled: unparseable, or still failing after a bounded time. Kept'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CustomerChat',
            name='unreachable_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Outbox',
            name='thread_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Staff',
            name='role_before',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Staff',
            name='via_config',
            field=fields.BooleanField(default=False),
        ),
        # Leads that LEAD_IDS made (ensure_leads wrote them without `added_by`) are marked as such, so that
        # taking an id out of the setting takes the lead role away at the next start.
        ops.RunSQL("UPDATE staff SET via_config = TRUE WHERE role = 'lead' AND added_by IS NULL"),
    ]
