"""Everything the database holds, to assert that a refused command changed nothing."""

from tortoise import Tortoise


async def snapshot() -> dict[str, list[tuple]]:
    state = {}
    for model in Tortoise.apps["models"].values():
        if model.__name__ in ("Person", "Identity", "ProcessedUpdate"):
            continue  # who was seen (and by which address), and which update ids were handled, are recorded
            # for every update
        rows = await model.all().order_by(model._meta.pk_attr).values_list()
        state[model.__name__] = [tuple(row) for row in rows]
    return state
