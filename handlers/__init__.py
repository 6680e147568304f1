"""aiogram routers, one module per audience, with their middleware, filters and keyboards."""
