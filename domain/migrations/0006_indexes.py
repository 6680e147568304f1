from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_oncall_outbox')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['next_due_at']),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['status', 'resolved_at']),
        ),
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['customer_id', 'status']),
        ),
        ops.AddIndex(
            model_name='IncidentEvent',
            index=Index(fields=['incident_id']),
        ),
        ops.AddIndex(
            model_name='IncidentMessage',
            index=Index(fields=['incident_id']),
        ),
    ]
