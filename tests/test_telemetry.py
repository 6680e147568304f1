"""/metrics without prometheus_client in the bot (memory, issue #16): what the desk exports parses with the
reference parser under the names scrapers know, and reads as prometheus_client printed it."""

import math
import subprocess
import sys

import prometheus_client
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry.metrics import Counter, Gauge, Registry

# Each family as the reference parser names it (a counter's samples are `<name>_total`): its type and labels.
# Dashboards and alerts use these names: changing one is a breaking change, not a refactoring.
EXPORTED = {
    "dutydesk_updates_handled": ("counter", ()),
    "dutydesk_handler_errors": ("counter", ()),
    "dutydesk_notifications_sent": ("counter", ("kind",)),
    "dutydesk_pings_owed": ("counter", ("kind",)),
    "dutydesk_open_incidents": ("gauge", ("plan", "priority")),
    "dutydesk_outbox_backlog": ("gauge", ()),
    "dutydesk_outbox_oldest_pending_seconds": ("gauge", ()),
    "dutydesk_open_breaches": ("gauge", ()),
    "dutydesk_telegram_refusals": ("counter", ("reason",)),
    "dutydesk_updates_parked": ("counter", ("reason",)),
    "dutydesk_parked_updates_waiting": ("gauge", ()),
    "dutydesk_mails_in": ("counter", ("outcome",)),
    "dutydesk_mails_out": ("counter", ("kind",)),
}
AWKWARD = 'say "hi" \\ C:\\temp\\ \\n\nnext line'


def desk_metrics() -> Registry:
    """The desk's metrics as `telemetry` defines them, at zero (the suite's other tests count in the bot's)."""
    fresh = Registry()
    for metric in telemetry.REGISTRY:
        type(metric)(metric.name, metric.documentation, metric.labelnames, registry=fresh)
    return fresh


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_metric_the_desk_exports_parses_with_the_names_scrapers_know():
    registry = desk_metrics()
    for metric in registry:
        series = metric.labels(*(f"v{n}" for n in range(len(metric.labelnames)))) if metric.labelnames else metric
        if metric.type == "counter":
            series.inc(2)
        else:
            series.set(2)
    text = registry.exposition()
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert exposed == {f"{name}_total" if kind == "counter" else name for name, (kind, _) in EXPORTED.items()}
    parsed = families(text)
    assert {name: (f.type, tuple(f.samples[0].labels)) for name, f in parsed.items()} == EXPORTED
    for name, family in parsed.items():
        (sample,) = family.samples
        assert sample.name == (f"{name}_total" if family.type == "counter" else name)
        assert sample.value == 2.0
    assert all(family.documentation for family in parsed.values())


def test_the_text_is_what_prometheus_client_printed_without_the_created_samples():
    ours = desk_metrics()
    theirs = prometheus_client.CollectorRegistry()
    kinds = {"counter": prometheus_client.Counter, "gauge": prometheus_client.Gauge}
    Gauge("desk_unsorted", "Labels declared out of order", ["priority", "plan"], registry=ours)
    mirror = {m.name: kinds[m.type](m.name, m.documentation, m.labelnames, registry=theirs) for m in ours}
    by_name = {m.name: m for m in ours}

    def both(name: str, *labels: str):
        return [m.labels(*labels) if labels else m for m in (by_name[name], mirror[name])]

    for m in both("dutydesk_updates_handled"):
        m.inc()
        m.inc(3)
    for m in both("dutydesk_telegram_refusals", AWKWARD) + both("dutydesk_telegram_refusals", "forbidden"):
        m.inc()
    for m in both("dutydesk_pings_owed", "reminder"):
        m.inc(0)  # a series at zero is still shown
    for m in both("dutydesk_open_incidents", "premium", "P1") + both("dutydesk_open_incidents", "8x5", "P3"):
        m.set(7)
    for m in both("desk_unsorted", "P1", "premium"):
        m.set(0.5)
    for m in both("dutydesk_open_incidents", "basic", "P2"):
        m.set(1)
    for m in (by_name["dutydesk_open_incidents"], mirror["dutydesk_open_incidents"]):
        m.clear()
        m.labels(plan="basic", priority="P4").set(2)
    for value, name in ((12.25, "dutydesk_outbox_oldest_pending_seconds"), (math.inf, "dutydesk_outbox_backlog"),
                        (math.nan, "dutydesk_open_breaches"), (-3, "dutydesk_parked_updates_waiting")):
        for m in both(name):
            m.set(value)

    def without_created(text: str) -> list[str]:
        return [line for line in text.splitlines() if "_created" not in line.split("{")[0]]

    assert without_created(ours.exposition()) == without_created(generate_latest(theirs).decode())


def test_an_awkward_label_value_and_help_text_round_trip_through_the_reference_parser():
    registry = Registry()
    counter = Counter("desk_refusals", 'Refusals of "any" kind (C:\\new),\nby reason', ["reason"], registry=registry)
    counter.labels(AWKWARD).inc()
    text = registry.exposition()
    assert text.count("\n") == 3  # the newlines are escaped: one line each for HELP, TYPE and the sample
    family = families(text)["desk_refusals"]
    assert family.documentation == 'Refusals of "any" kind (C:\\new),\nby reason'
    assert [(s.name, s.labels, s.value) for s in family.samples] == [("desk_refusals_total", {"reason": AWKWARD}, 1.0)]


def test_values_are_floats_and_large_ones_parse():
    registry = Registry()
    gauge = Gauge("desk_big", "A big value", registry=registry)
    gauge.set(2)
    assert registry.exposition().splitlines()[-1] == "desk_big 2.0"
    gauge.set(1234567890123)
    assert families(registry.exposition())["desk_big"].samples[0].value == 1234567890123.0


def test_clear_on_a_labelled_gauge_drops_its_series():
    registry = Registry()
    gauge = Gauge("desk_open", "Open incidents", ["plan", "priority"], registry=registry)
    gauge.labels("premium", "P1").set(3)
    gauge.labels(plan="basic", priority="P2").set(1)
    gauge.clear()
    assert registry.get_sample_value("desk_open", {"plan": "premium", "priority": "P1"}) is None
    assert families(registry.exposition())["desk_open"].samples == []
    gauge.labels("basic", "P2").set(4)
    assert [(s.labels, s.value) for s in families(registry.exposition())["desk_open"].samples] == [
        ({"plan": "basic", "priority": "P2"}, 4.0)]


def test_get_sample_value_reads_a_series_as_a_scrape_sees_it():
    registry = Registry()
    sent = Counter("desk_sent", "Sent", ["kind"], registry=registry)
    sent.labels("ack").inc(2)
    assert registry.get_sample_value("desk_sent_total", {"kind": "ack"}) == 2.0
    assert registry.get_sample_value("desk_sent_total", {"kind": "reminder"}) is None
    assert registry.get_sample_value("desk_sent", {"kind": "ack"}) is None  # a counter is read as `_total`


@pytest.mark.parametrize("misuse", [
    lambda r: Counter("desk_c", "C", registry=r).inc(-1),  # a counter never goes down
    lambda r: Counter("desk_c", "C", ["kind"], registry=r).inc(),  # a labelled one counts through labels()
    lambda r: Gauge("desk_g", "G", registry=r).labels("x"),
    lambda r: Gauge("desk_g", "G", ["a", "b"], registry=r).labels("x"),
    lambda r: Gauge("desk_g", "G", ["a", "b"], registry=r).labels(a="x", c="y"),
    lambda r: Gauge("desk_g", "G", ["a"], registry=r).labels("x", a="x"),
    lambda r: Gauge("desk_g", "G", registry=r).clear(),
    lambda r: (Gauge("desk_g", "G", registry=r), Counter("desk_g", "C", registry=r)),  # one name, one metric
    lambda r: Gauge("desk-g", "G", registry=r),
    lambda r: Gauge("desk_g", "G", ["plan-name"], registry=r),
    lambda r: Gauge("desk_g", "G", ["__reserved"], registry=r),
])
def test_misuse_is_refused_at_once(misuse):
    with pytest.raises(ValueError):
        misuse(Registry())


def test_the_running_bot_does_not_import_prometheus_client():
    code = "import sys, bot.__main__, bot.app, bot.web, telemetry; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
