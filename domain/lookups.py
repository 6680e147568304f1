"""Tortoise's lookup table of a model (`"status__in"` → how to filter on it), built per field on first use.

Tortoise builds, for every column of every model, about 25 lookups (`__in`, `__gte`, `__icontains`, ...)
up front: 6,000 small dicts for the desk's models, 1.6 MB of memory the process keeps for its life (#16),
though the desk asks for a few dozen. The table here answers the same questions with the same entries,
made by tortoise's own `get_filters_for_field` when a field is first filtered on.

Only the columns' own lookups are made on demand; what tortoise adds at `Tortoise.init` (the lookups of
the relations and of their `*_id` columns) it adds to this table itself, as it would to a plain dict.
Tortoise asks the table with `in` and `[]` only (`MetaInfo.get_filter`, `_process_filter_kwarg`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.filters import get_filters_for_field

if TYPE_CHECKING:
    from tortoise.models import MetaInfo


class LookupTable(dict):
    """`meta.filters` of one model: its columns' lookups made at the first question about each column."""

    __slots__ = ("columns", "made", "meta")

    def __init__(self, meta: MetaInfo, columns: frozenset[str]) -> None:
        super().__init__()
        self.meta = meta
        self.columns = columns  # the field names (and "pk") tortoise would have made lookups for
        self.made: set[str] = set()

    def __missing__(self, key: str):
        if self._make(key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and self._make(key)
                                                 and dict.__contains__(self, key))

    def forget(self) -> None:
        """Drop the lookups made so far: after `Tortoise.init` they are made again for its connection, whose
        database may override some operators (tortoise's `_generate_filters` does the same at init)."""
        for name in self.made:
            for key in [k for k in self if k == name or k.startswith(name + "__")]:
                del self[key]
        self.made.clear()

    def _make(self, key: str) -> bool:
        """Make the lookups of the column `key` names; False when there is nothing (more) to make."""
        name = key.partition("__")[0]
        if name not in self.columns or name in self.made:
            return False
        self.made.add(name)
        meta = self.meta
        field = meta.fields_map[meta.pk_attr if name == "pk" else name]
        source = field.source_field or field.model_field_name
        overridden = meta.db.executor_class.get_overridden_filter_func
        for lookup, info in get_filters_for_field(name, field, source).items():
            operator = overridden(filter_func=info["operator"], filter_info=info)
            if operator:  # this database's own operator, as tortoise's `_generate_filters` puts it
                info = {**info, "operator": operator}
            dict.__setitem__(self, lookup, info)
        return True


def on_demand(meta: MetaInfo) -> None:
    """Replace the lookups tortoise has just made for a new model's columns with a table that makes them when
    asked. Called as the model class is created, before `Tortoise.init` adds the relations' lookups."""
    meta.filters = LookupTable(meta, frozenset(key.partition("__")[0] for key in meta._filters))
    meta._filters = {}  # what `Tortoise.init` copies into `filters`: from now on only what it adds itself


def forget_made(models) -> None:
    """After `Tortoise.init`: the lookups made for an earlier connection are made again for the new one."""
    for model in models:
        if isinstance(model._meta.filters, LookupTable):
            model._meta.filters.forget()
