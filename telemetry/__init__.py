"""Prometheus counters shared by every layer (the composition root serves them at /metrics).

Gauges that describe the database (open incidents, outbox backlog) are filled at scrape time by
`bot/web.py`; the counters here count what this process did since it started. The metrics and their text
format are `telemetry.metrics` (not prometheus_client: memory, issue #16).
"""

from telemetry.metrics import Counter, Gauge, Registry

REGISTRY = Registry()

UPDATES = Counter("dutydesk_updates_handled", "Telegram updates handled", registry=REGISTRY)
HANDLER_ERRORS = Counter("dutydesk_handler_errors", "Updates whose handler failed", registry=REGISTRY)
SENT = Counter("dutydesk_notifications_sent", "Notifications sent from the outbox", ["kind"], registry=REGISTRY)
PINGS = Counter("dutydesk_pings_owed", "Pings owed by the scheduler", ["kind"], registry=REGISTRY)
OPEN = Gauge("dutydesk_open_incidents", "Open incidents", ["plan", "priority"], registry=REGISTRY)
BACKLOG = Gauge("dutydesk_outbox_backlog", "Notifications waiting to be sent", registry=REGISTRY)
OLDEST = Gauge("dutydesk_outbox_oldest_pending_seconds", "Age of the oldest waiting notification",
               registry=REGISTRY)
BREACHES = Gauge("dutydesk_open_breaches", "Open incidents past their deadline with no response",
                 registry=REGISTRY)
REFUSALS = Counter("dutydesk_telegram_refusals", "Updates whose handling ended on a Telegram error no retry cures",
                   ["reason"], registry=REGISTRY)
PARKED = Counter("dutydesk_updates_parked", "Updates parked: unparseable, or failing past the retry budget",
                 ["reason"], registry=REGISTRY)
PARKED_WAITING = Gauge("dutydesk_parked_updates_waiting", "Parked updates waiting for a lead to replay or dismiss",
                       registry=REGISTRY)
MAILS_IN = Counter("dutydesk_mails_in", "Mails taken from the mailbox, by outcome (intake, or why not)", ["outcome"],
                   registry=REGISTRY)
MAILS_OUT = Counter("dutydesk_mails_out", "Mails sent", ["kind"], registry=REGISTRY)
