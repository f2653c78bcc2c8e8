from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """One fixed window of one limit for one key, when the database is the counter store."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
