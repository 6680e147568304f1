from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    # Numbered 0014 (0011 and 0013 are being written on other branches): re-pointed to the newest one at merge.
    dependencies = [('models', '0011_channels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeskLogin',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_login', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time sign-in link to the desk page: valid 10 minutes, used once. Only its SHA-256 is kept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeskSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user_id', fields.BigIntField(db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A browser signed in to the desk page (12 hours). Only a SHA-256 of its cookie is kept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WallboardLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.BigIntField()),
                ('lang', fields.CharField(max_length=2)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'wallboard_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A link a lead made for a screen in the support room, until revoked. Only its SHA-256 is kept.'},
            bases=['Model'],
        ),
    ]
