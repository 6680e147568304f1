"""attack6 (issue #16): the on-demand lookup tables answer every key tortoise's eager tables had, with the same
entry (this database's operator overrides applied), on SQLite and PostgreSQL, also after a second open in one
process (these held: kept as a guard)."""

from copy import copy
from functools import partial

from tortoise import Tortoise
from tortoise.fields.relational import RelationalField
from tortoise.filters import get_filters_for_field

from bot.db import open_database
from domain.lookups import LookupTable


def eager(meta) -> dict:
    """What tortoise's `_dispatch_fields` + `_generate_filters` made for the model's own columns."""
    made = {}
    added_at_init = {meta.fields_map[name].source_field for name in meta.fk_fields | meta.o2o_fields}  # `*_id`
    for name, field in meta.fields_map.items():
        if isinstance(field, RelationalField) or not field.has_db_field or name in added_at_init:
            continue
        made.update(get_filters_for_field(name, field, field.source_field or name))
        if field.pk:
            made.update(get_filters_for_field("pk", field, field.source_field or name))
    overridden = meta.db.executor_class.get_overridden_filter_func
    for key, info in made.items():
        operator = overridden(filter_func=info["operator"], filter_info=info)
        if operator:
            made[key] = {**copy(info), "operator": operator}
    return made


def same(info: dict) -> dict:
    """An entry with a `functools.partial` operator (made anew per call) compared by what it calls."""
    operator = info["operator"]
    if isinstance(operator, partial):
        operator = (operator.func, operator.args, tuple(sorted(operator.keywords.items())))
    return {**info, "operator": operator}


def check_every_model() -> int:
    checked = 0
    for model in Tortoise.apps["models"].values():
        table = model._meta.filters
        assert isinstance(table, LookupTable), model
        expected = eager(model._meta)
        assert {key.partition("__")[0] for key in expected} == set(table.columns), model
        for key, info in expected.items():
            assert key in table, (model, key)
            assert same(table[key]) == same(info), (model, key)
            checked += 1
    return checked


async def test_every_key_of_the_eager_tables_is_answered_the_same(db):
    assert check_every_model() > 1000
    await Tortoise.close_connections()
    await open_database(db, apply_migrations=False)  # a restart in one process: made again for it
    assert not any(m._meta.filters.made for m in Tortoise.apps["models"].values())
    assert check_every_model() > 1000
