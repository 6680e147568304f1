"""Periodic jobs (APScheduler): due-timer tick, outbox dispatcher, shift handover, gap warning, reports.

Nothing runs here yet: the foundation has no timers. The on-call work adds the jobs.
"""
