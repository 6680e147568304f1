"""Tortoise models: what the desk keeps (SPEC section 9). Times are stored as aware UTC."""

from typing import Any

from tortoise import fields
from tortoise.models import Model as TortoiseModel
from tortoise.models import ModelMeta

from domain import lookups


class _LeanModel(ModelMeta):
    """Tortoise reads each model's `#:` comments as field descriptions by fetching and parsing the source of
    the whole module, once per model: 24 parses, about 0.4 s of every start. None are written here, and
    tortoise's own migration states turn the search off the same way. Each model's lookups are made when
    first used (`domain.lookups`: 1.6 MB less kept for the life of the process)."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]):
        attrs.setdefault("_no_comments", True)
        model = super().__new__(mcs, name, bases, attrs)
        lookups.on_demand(model._meta)
        return model


class Model(TortoiseModel, metaclass=_LeanModel):
    class Meta:
        abstract = True


class Person(Model):
    """Everyone the desk has seen, on any channel (their addresses are `Identity` rows).

    `id` is internal: people first seen on Telegram keep their Telegram user id as it (history columns
    written before channels stay valid), people first seen elsewhere get negative ids. Nothing may read
    meaning into the number: a person is reached through an identity (domain/identities.py)."""

    id = fields.BigIntField(primary_key=True)
    username = fields.CharField(max_length=64, null=True, db_index=True)  # lower-case, without @
    full_name = fields.CharField(max_length=256, default="")
    lang = fields.CharField(max_length=2, null=True)  # chosen with /lang
    tg_lang = fields.CharField(max_length=8, null=True)  # app language (Telegram's, else MAX's): `lang`'s fallback
    # None: unknown; True: the person opened a private chat with the bot; False: a DM was refused.
    can_dm = fields.BooleanField(null=True)
    last_seen = fields.DatetimeField()

    class Meta:
        table = "person"


class Identity(Model):
    """A person's address on a channel: a Telegram user id, an e-mail address (lower-case), …"""

    channel = fields.CharField(max_length=16)  # telegram email express max
    ref = fields.CharField(max_length=320)
    person = fields.ForeignKeyField("models.Person", related_name="identities")

    class Meta:
        table = "identity"
        unique_together = (("channel", "ref"),)
        indexes = (("person_id", "channel"),)


class Staff(Model):
    user_id = fields.BigIntField(unique=True)
    role = fields.CharField(max_length=16)  # lead engineer architect developer
    active = fields.BooleanField(default=True)  # removed staff keep their row: history points at them
    added_at = fields.DatetimeField()
    added_by = fields.BigIntField(null=True)
    # A lead made by the LEAD_IDS setting, and the role they had before it (None: not staff before).
    # Taken out of LEAD_IDS, they return to that role, or leave the staff.
    via_config = fields.BooleanField(default=False)
    role_before = fields.CharField(max_length=16, null=True)

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


class Conversation(Model):
    """Where a customer talks to the desk on one channel: a Telegram group (`ref` its chat id), an e-mail
    address or domain (lower-case). Unbinding keeps the row with no customer: incidents and stored
    messages point at it, and binding it again (to any customer) reuses it."""

    channel = fields.CharField(max_length=16)  # telegram email express max
    ref = fields.CharField(max_length=320)  # the channel's own address of the conversation
    customer = fields.ForeignKeyField("models.Customer", related_name="conversations", null=True)
    title = fields.CharField(max_length=256, default="")
    kind = fields.CharField(max_length=16)  # telegram: private group supergroup; email: address domain
    lang = fields.CharField(max_length=2, null=True)  # None: the customer's language
    bound_at = fields.DatetimeField(null=True)
    bound_by = fields.BigIntField(null=True)  # person id
    # The desk cannot deliver there (the bot was removed from the group, …): notices there fail fast.
    unreachable_since = fields.DatetimeField(null=True)

    class Meta:
        table = "conversation"
        unique_together = (("channel", "ref"),)
        indexes = (("customer_id",),)


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
    used_conversation = fields.ForeignKeyField("models.Conversation", related_name="invitations", null=True,
                                               on_delete=fields.SET_NULL)
    # Used up by being shown in a customer's chat (`invitations.burn_shown`), then `used_at`:
    # `used_conversation` is that chat, `used_by` who showed it.
    burnt_at = fields.DatetimeField(null=True)

    class Meta:
        table = "invitation"


class UnboundConversation(Model):
    """A conversation that wrote to the desk before anyone bound it, and when it was last told so."""

    channel = fields.CharField(max_length=16)
    ref = fields.CharField(max_length=320)  # the address a bound `Conversation` would have
    title = fields.CharField(max_length=256, default="")
    first_seen = fields.DatetimeField()
    last_notice_at = fields.DatetimeField(null=True)

    class Meta:
        table = "unbound_conversation"
        unique_together = (("channel", "ref"),)


class UnboundMessage(Model):
    conversation = fields.ForeignKeyField("models.UnboundConversation", related_name="messages")
    ref = fields.CharField(max_length=255)  # the channel's own message reference
    person_id = fields.BigIntField(null=True)
    author = fields.CharField(max_length=256, default="")
    text = fields.TextField(default="")
    attachments = fields.JSONField(default=list)
    received_at = fields.DatetimeField()

    class Meta:
        table = "unbound_message"
        unique_together = (("conversation", "ref"),)


class Incident(Model):
    key = fields.CharField(max_length=24, unique=True)  # CODE-N
    number = fields.IntField()
    customer = fields.ForeignKeyField("models.Customer", related_name="incidents")
    plan = fields.CharField(max_length=16)  # the plan when the incident was opened
    conversation = fields.ForeignKeyField("models.Conversation", related_name="incidents")
    topic = fields.CharField(max_length=64, null=True)  # a sub-thread of the conversation: a Telegram forum topic
    title = fields.CharField(max_length=256, default="")  # first line of the problem
    priority = fields.CharField(max_length=2)
    status = fields.CharField(max_length=16, default="new")  # new in_progress resolved closed
    reporter_id = fields.BigIntField(null=True)
    assignee_id = fields.BigIntField(null=True)
    opened_at = fields.DatetimeField()  # the first customer message: the reaction timer starts here
    deadline = fields.DatetimeField(null=True)  # reaction deadline, recomputed from start, plan, priority, policy
    responded_at = fields.DatetimeField(null=True)  # the first staff response: the timer stops here
    responded_by = fields.BigIntField(null=True)
    last_activity_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    summary = fields.TextField(default="")
    rating = fields.IntField(null=True)
    contract_expired = fields.BooleanField(default=False)
    # The next ping owed while nobody has responded (indexed: the tick asks only for what is due).
    next_due_at = fields.DatetimeField(null=True, db_index=True)
    alert_stage = fields.IntField(default=0)  # 0 reminder next, 1 breach next, 2+ repeats sent so far + 1

    class Meta:
        table = "incident"
        # The conversation's open incidents; what the tick finds due; what to close; a customer's open ones.
        indexes = (("conversation_id", "status"), ("next_due_at",), ("status", "resolved_at"),
                   ("customer_id", "status"))


class IncidentMessage(Model):
    """A message that belongs to an incident: the customer's, staff's, or the bot's own. `ref` is the
    channel's own reference (a Telegram message id, an e-mail Message-ID), unique in its conversation."""

    incident = fields.ForeignKeyField("models.Incident", related_name="messages")
    conversation = fields.ForeignKeyField("models.Conversation", related_name="messages")
    ref = fields.CharField(max_length=255)
    author_id = fields.BigIntField(null=True)
    author = fields.CharField(max_length=256, default="")
    source = fields.CharField(max_length=8)  # customer staff bot
    text = fields.TextField(default="")
    attachments = fields.JSONField(default=list)
    sent_at = fields.DatetimeField()
    edited_at = fields.DatetimeField(null=True)

    class Meta:
        table = "incident_message"
        unique_together = (("conversation", "ref"),)
        indexes = (("incident_id",),)


class IncidentEvent(Model):
    """Every change of an incident: who, what, when. The card, reports and audits read these."""

    incident = fields.ForeignKeyField("models.Incident", related_name="events")
    at = fields.DatetimeField()
    actor_id = fields.BigIntField(null=True)
    kind = fields.CharField(max_length=24)
    data = fields.JSONField(default=dict)

    class Meta:
        table = "incident_event"
        indexes = (("incident_id",),)


class ProcessedUpdate(Model):
    """Update ids being handled or handled: a redelivered update is skipped (kept a few days). Telegram's
    own ids are positive; another channel's updates have negative ids derived from the channel's name and
    the update's own reference (`domain.updates.channel_key`)."""

    update_id = fields.BigIntField(primary_key=True)
    state = fields.CharField(max_length=8, default="done")  # handling | done
    handled_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "processed_update"


class ChannelCursor(Model):
    """How far a channel's long polling has taken updates in (MAX's `marker`). Moved only once every update
    before it was handled, so a restart asks again for the ones in hand and none is lost."""

    channel = fields.CharField(max_length=16, unique=True)
    position = fields.BigIntField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "channel_cursor"


class ParkedUpdate(Model):
    """An update that could not be handled: unparseable, or still failing after a bounded time. Kept
    whole with its error (never dropped), shown in /healthz and to the leads, replayable by a lead."""

    id = fields.IntField(primary_key=True)
    update_id = fields.BigIntField(null=True, db_index=True)
    chat_id = fields.BigIntField(null=True)
    payload = fields.TextField()  # the update as Telegram sent it (JSON)
    error = fields.TextField(default="")
    reason = fields.CharField(max_length=16)  # unparseable | failing
    channel = fields.CharField(max_length=16, default="telegram")  # whose update: telegram, max (replayed: Telegram's)
    status = fields.CharField(max_length=16, default="parked", db_index=True)  # parked replayed dismissed
    parked_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.BigIntField(null=True)

    class Meta:
        table = "parked_update"


class FailedAttempt(Model):
    """How often taking one input in has failed (a MAX update, a mail): stored outside the failing transaction,
    so the count survives a restart and the input is set aside after `domain.attempts.ATTEMPTS` failures."""

    key = fields.BigIntField(primary_key=True)  # `domain.updates.channel_key` of the input
    attempts = fields.IntField(default=0)
    error = fields.TextField(default="")  # the newest failure
    failed_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "failed_attempt"


class Rotation(Model):
    """The roster of one shift: people take turns daily or weekly, counted from `anchor` (a shift date)."""

    shift = fields.CharField(max_length=32, unique=True)
    mode = fields.CharField(max_length=8)  # daily | weekly
    members = fields.JSONField(default=list)  # Telegram user ids, in turn order
    anchor = fields.DateField()  # the local date of the shift occurrence the first member takes
    updated_at = fields.DatetimeField()
    updated_by = fields.BigIntField(null=True)

    class Meta:
        table = "rotation"


class Override(Model):
    """A person on duty for a time range, winning over the rotations while it lasts."""

    user_id = fields.BigIntField()
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField(db_index=True)
    created_at = fields.DatetimeField()
    created_by = fields.BigIntField(null=True)

    class Meta:
        table = "override"


class Outbox(Model):
    """A notice the desk owes: written in the transaction that causes it, rendered and sent by its channel.

    A row holds what is owed, not how it reads: the kind, the incident, the recipient and the parameters.
    The channel renders it in the recipient's language when it sends it. The recipient is a person (their
    identity on the channel is found at send time, their language is theirs), a customer's conversation
    (its address on the channel is found at send time, so a group that became a supergroup needs no row
    moved; its language), or a raw Telegram chat: only the desk's own staff chat (STAFF_CHAT_ID), which is
    a setting and no customer's conversation. `channel` names who delivers it."""

    kind = fields.CharField(max_length=16)  # see domain.outbox for the kinds and their parameters
    rank = fields.SmallIntField(default=1)  # 0 pings first, then notices, then reports
    channel = fields.CharField(max_length=16, default="telegram")
    person_id = fields.BigIntField(null=True)  # a person recipient: the internal person id
    conversation_id = fields.IntField(null=True)  # a customer conversation recipient: `Conversation.id`
    chat_id = fields.BigIntField(null=True)  # the staff chat recipient: its Telegram chat id (no conversation)
    # What the renderer needs: plain values, never finished text (never NULL: the schema cannot say so).
    params = fields.JSONField(default=dict, null=True)
    # The rendered rest of a notice sent in parts: the channel writes it after each part, so a restart sends
    # only what is still owed (in the words the first part was written in) and never a part twice.
    rest = fields.TextField(null=True)
    incident = fields.ForeignKeyField("models.Incident", related_name="outbox", null=True)
    drop_if_answered = fields.BooleanField(default=False)  # a reminder that lost its point is dropped
    fallback = fields.BooleanField(default=False)  # a DM that could not be delivered goes to leads instead
    dedupe = fields.CharField(max_length=128, null=True, unique=True)
    status = fields.CharField(max_length=8, default="pending")  # pending sending sent dropped failed
    attempts = fields.IntField(default=0)
    due_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    # The channel's own reference of the (last part) sent: a Telegram message id as text, a mail's Message-ID.
    sent_ref = fields.CharField(max_length=255, null=True)
    message_id = fields.BigIntField(null=True)  # rows sent before 0015: the Telegram message id (read only)
    error = fields.TextField(default="")

    class Meta:
        table = "outbox"
        indexes = (("status", "due_at"),)


class JobClaim(Model):
    """A periodic duty done once: a shift's handover, a day's gap warning, a period's report."""

    key = fields.CharField(max_length=128, primary_key=True)
    claimed_at = fields.DatetimeField()

    class Meta:
        table = "job_claim"


# ---- the desk page (domain.desk_page) --------------------------------------------------------------------
class DeskLogin(Model):
    """A one-time sign-in link to the desk page: valid 10 minutes, used once. Only its SHA-256 is kept."""

    token_hash = fields.CharField(max_length=64, unique=True)
    user_id = fields.BigIntField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "desk_login"


class DeskSession(Model):
    """A browser signed in to the desk page (12 hours). Only a SHA-256 of its cookie is kept."""

    token_hash = fields.CharField(max_length=64, unique=True)
    user_id = fields.BigIntField(db_index=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "desk_session"


class WallboardLink(Model):
    """A link a lead made for a screen in the support room, until revoked. Only its SHA-256 is kept."""

    token_hash = fields.CharField(max_length=64, unique=True)
    created_by = fields.BigIntField()
    lang = fields.CharField(max_length=2)  # the language of the lead who made it
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "wallboard_link"


class MailboxState(Model):
    """How far the IMAP loop has taken a mailbox in. UIDs mean something only with their UIDVALIDITY;
    the last UID moves in the same transaction as the intake of that mail, so a crash repeats no mail."""

    mailbox = fields.CharField(max_length=255, unique=True)  # user@host/folder
    uidvalidity = fields.BigIntField()
    last_uid = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "mail_mailbox"


class MailIn(Model):
    """Every mail taken from the mailbox, intake or not, by Message-ID: a mail met again (the server
    renumbered its UIDs, or the same mail was delivered twice) is recognised and not taken in twice."""

    message_id = fields.CharField(max_length=998, unique=True)
    mailbox = fields.CharField(max_length=255)
    uidvalidity = fields.BigIntField()
    uid = fields.BigIntField()
    sender = fields.CharField(max_length=320)
    outcome = fields.CharField(max_length=16)  # intake, or why not: own bounce auto-reply
    received_at = fields.DatetimeField()

    class Meta:
        table = "mail_in"


class MailAck(Model):
    """An acknowledgement mailed to a sender: at most a few an hour go to one address (no mail loops)."""

    sender = fields.CharField(max_length=320, db_index=True)
    sent_at = fields.DatetimeField()

    class Meta:
        table = "mail_ack"
