from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """The events of one counter within its longest period, when the database is the store.

    `events` holds `[time, id]` pairs, oldest first: the time in seconds since the epoch, and
    an id by which a counted event can be taken back.
    """

    key = models.CharField(max_length=200, unique=True)
    events = models.JSONField(default=list)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={len(self.events)}"
