"""Rituals on a schedule: schedule.py (what members type → cron in their zone),
timer.py (APScheduler says when), engine.py (what a round does: post, remind, close,
synthesise), kinds/ (what each kind of ritual collects and says), service.py (wiring)."""
