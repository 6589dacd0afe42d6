"""Rituals on a schedule (APScheduler): not built yet; see the rituals issue."""
