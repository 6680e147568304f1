"""Tortoise models: what the desk keeps (SPEC section 9). Times are stored as aware UTC."""

from tortoise import fields
from tortoise.models import Model


class Person(Model):
    """Everyone the bot has seen, so `@username` can be resolved to a Telegram id."""

    id = fields.BigIntField(primary_key=True)  # Telegram user id
    username = fields.CharField(max_length=64, null=True, db_index=True)  # lower-case, without @
    full_name = fields.CharField(max_length=256, default="")
    lang = fields.CharField(max_length=2, null=True)  # chosen with /lang
    # None: unknown; True: the person opened a private chat with the bot; False: a DM was refused.
    can_dm = fields.BooleanField(null=True)
    last_seen = fields.DatetimeField()

    class Meta:
        table = "person"


class Staff(Model):
    user_id = fields.BigIntField(unique=True)
    role = fields.CharField(max_length=16)  # lead engineer architect developer
    active = fields.BooleanField(default=True)  # removed staff keep their row: history points at them
    added_at = fields.DatetimeField()
    added_by = fields.BigIntField(null=True)

    class Meta:
        table = "staff"


class Customer(Model):
    code = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=256)
    plan = fields.CharField(max_length=16)
    users = fields.IntField(default=0)
    cts = fields.IntField(default=0)
    ha = fields.CharField(max_length=16, default="none")
    tz = fields.CharField(max_length=64, null=True)  # None: the TIMEZONE setting
    lang = fields.CharField(max_length=2, null=True)  # None: DEFAULT_LANG
    report = fields.CharField(max_length=16, default="off")
    contract_until = fields.DateField(null=True)
    engineer_id = fields.BigIntField(null=True)  # dedicated engineer's Telegram id
    contacts = fields.JSONField(default=list)  # responsible persons, as written by the lead
    incident_seq = fields.IntField(default=0)  # last N used in CODE-N
    created_at = fields.DatetimeField()

    class Meta:
        table = "customer"


class CustomerChat(Model):
    chat_id = fields.BigIntField(unique=True)
    customer = fields.ForeignKeyField("models.Customer", related_name="chats")
    title = fields.CharField(max_length=256, default="")
    kind = fields.CharField(max_length=16)  # private group supergroup
    lang = fields.CharField(max_length=2, null=True)  # None: the customer's language
    bound_at = fields.DatetimeField()
    bound_by = fields.BigIntField(null=True)

    class Meta:
        table = "customer_chat"


class Invitation(Model):
    """A one-time deep link. Only a hash of the token is kept, so the database never reveals a live link."""

    token_hash = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=8)  # staff | chat
    role = fields.CharField(max_length=16, null=True)  # for staff invitations
    customer = fields.ForeignKeyField("models.Customer", related_name="invitations", null=True)
    created_by = fields.BigIntField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by = fields.BigIntField(null=True)
    used_chat = fields.BigIntField(null=True)

    class Meta:
        table = "invitation"


class UnboundChat(Model):
    """A group that wrote to the bot before anyone bound it, and when it was last told so."""

    chat_id = fields.BigIntField(primary_key=True)
    title = fields.CharField(max_length=256, default="")
    first_seen = fields.DatetimeField()
    last_notice_at = fields.DatetimeField(null=True)

    class Meta:
        table = "unbound_chat"


class UnboundMessage(Model):
    chat_id = fields.BigIntField(db_index=True)
    message_id = fields.BigIntField()
    user_id = fields.BigIntField(null=True)
    author = fields.CharField(max_length=256, default="")
    text = fields.TextField(default="")
    attachments = fields.JSONField(default=list)
    received_at = fields.DatetimeField()

    class Meta:
        table = "unbound_message"
        unique_together = (("chat_id", "message_id"),)
