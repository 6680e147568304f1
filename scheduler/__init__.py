"""Periodic jobs run by the desk's own ticker: the tick that finds what is due, and the outbox courier."""
