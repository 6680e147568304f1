"""Composition root: settings, logging, database, the aiogram Bot and Dispatcher, runners, CLI."""
