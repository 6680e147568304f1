"""The desk itself: models, rules and services. Imports neither aiogram nor any channel library."""
