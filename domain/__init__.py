"""The desk itself: models, rules and services. Imports neither aiogram nor APScheduler."""
