"""Periodic jobs run by APScheduler: the tick that finds what is due, and (with on-call) the rest."""
