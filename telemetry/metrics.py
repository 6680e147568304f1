"""Counters, gauges and a registry that writes them in the Prometheus text format 0.0.4.

The part of prometheus_client the desk used, and no more: importing prometheus_client (18 modules, and
through its exposition `wsgiref`, `http.server`, `gzip`, ...) cost the running bot 1.2 MB of resident memory
(issue #16). The text is what prometheus_client printed for these metrics, without its `_created` samples:
counters exposed as `<name>_total`, labels sorted by name, values as floats (`2.0`).

No locks: every metric is changed and read on the bot's one event-loop thread (handlers, scheduler jobs,
the courier and the web app are all coroutines on it, and none of them counts from a worker thread), and
no change or scrape awaits half-way, so nothing can see a series half-changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class Registry:
    """The metrics one process exports, in the order they were made."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: _Metric) -> None:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric

    def __iter__(self) -> Iterator[_Metric]:
        return iter(self._metrics.values())

    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """(sample name, labels, value) of every series, as a scrape sees them."""
        for metric in self:
            for labels, value in metric.series():
                yield metric.sample_name, labels, value

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of sample `name` with exactly these labels, or None (as prometheus_client's registry)."""
        labels = labels or {}
        return next((value for sample, got, value in self.samples() if sample == name and got == labels), None)

    def exposition(self) -> str:
        """The text a scrape of /metrics gets."""
        lines = []
        for metric in self:
            name = metric.sample_name
            lines.append(f"# HELP {name} {_escape_help(metric.documentation)}")
            lines.append(f"# TYPE {name} {metric.type}")
            for labels, value in metric.series():
                lines.append(f"{name}{_label_set(labels)} {_number(value)}")
        return "".join(f"{line}\n" for line in lines)


class _CounterSeries:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up, not by {amount}")
        self.value += float(amount)


class _GaugeSeries:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += float(amount)

    def set(self, value: float) -> None:
        self.value = float(value)


class _Metric:
    """One metric: a single series, or with `labelnames` one series per tuple of label values."""

    type = ""
    _series_type: type[_CounterSeries] | type[_GaugeSeries]

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = (), *,
                 registry: Registry) -> None:
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._series: dict[tuple[str, ...], _CounterSeries | _GaugeSeries] = {}
        if not self.labelnames:  # shown from the start, at 0, as prometheus_client does
            self._series[()] = self._series_type()
        registry.register(self)

    @property
    def sample_name(self) -> str:
        return self.name

    def labels(self, *values: object, **named: object):
        """The series with these label values (in `labelnames` order, or by name), made at its first use."""
        if not self.labelnames:
            raise ValueError(f"{self.name} has no labels")
        if named:
            if values or set(named) != set(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {', '.join(self.labelnames)}")
            values = tuple(named[label] for label in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes {len(self.labelnames)} label values, not {len(values)}")
        key = tuple(str(value) for value in values)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._series_type()
        return series

    def clear(self) -> None:
        """Drops every labelled series (a gauge refilled from the database loses the values now gone)."""
        if not self.labelnames:
            raise ValueError(f"{self.name} has no labels to clear")
        self._series.clear()

    def series(self) -> Iterator[tuple[dict[str, str], float]]:
        for key, series in self._series.items():
            yield dict(sorted(zip(self.labelnames, key, strict=True))), series.value

    def _unlabelled(self):
        if self.labelnames:
            raise ValueError(f"{self.name} has labels ({', '.join(self.labelnames)}): count through labels(...)")
        return self._series[()]


class Counter(_Metric):
    type = "counter"
    _series_type = _CounterSeries

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total"  # the name dashboards and alerts know, as prometheus_client exposed it

    def inc(self, amount: float = 1) -> None:
        self._unlabelled().inc(amount)


class Gauge(_Metric):
    type = "gauge"
    _series_type = _GaugeSeries

    def inc(self, amount: float = 1) -> None:
        self._unlabelled().inc(amount)

    def set(self, value: float) -> None:
        self._unlabelled().set(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _label_set(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{name}="{_escape_label(value)}"' for name, value in labels.items())
    return f"{{{pairs}}}"


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
