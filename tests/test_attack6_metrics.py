"""attack6 (issue #16): the desk's own /metrics text against prometheus_client's on hostile label values and
numbers (these held: kept as a guard)."""

import math

import prometheus_client
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import Counter, Gauge, Registry

HOSTILE = ['пр"и\\в\nет', "a\\nb", "\\", 'x"', "tab\there", "\r", "\u2028", "emoji 🚨", "", "}", "{a=\"b\"}"]
NUMBERS = [1e300, 2.0**70, math.nan, 1e-30, -12345678.0, 1234567.0, -0.0, math.inf, -math.inf, 2**53 + 1]


def samples(text: str) -> list[tuple[str, tuple, str]]:
    return sorted((s.name, tuple(sorted(s.labels.items())), repr(s.value))
                  for family in text_string_to_metric_families(text) for s in family.samples
                  if not s.name.endswith("_created"))


def test_hostile_label_values_and_numbers_read_as_prometheus_client_wrote_them():
    ours, theirs = Registry(), prometheus_client.CollectorRegistry()
    help_text = 'help with \\ and \n and "quotes"'
    pairs = [(Counter("a6_c", help_text, ["k"], registry=ours), prometheus_client.Counter("a6_c", help_text, ["k"],
                                                                                         registry=theirs)),
             (Gauge("a6_g", "g", ["b", "a"], registry=ours), prometheus_client.Gauge("a6_g", "g", ["b", "a"],
                                                                                    registry=theirs))]
    for metric in pairs[0]:
        for i, value in enumerate(HOSTILE):
            metric.labels(value).inc(i + 1)
    for metric in pairs[1]:
        for i, value in enumerate(NUMBERS):
            metric.labels(str(i), HOSTILE[i]).set(value)
    text = ours.exposition()
    assert samples(text) == samples(generate_latest(theirs).decode())
    assert text.count("\n") == 4 + len(HOSTILE) + len(NUMBERS)  # one line per sample: no raw newline
    text.encode()  # what /metrics sends
