"""Counters become sliding windows: one row per counter holding the times of its events.

A lock in force at the upgrade stays in force until the fixed window that caused it would have
ended, and no longer: a counter's largest count becomes that many events dated at the start of
its longest window, which a sliding window of that period forgets exactly when the old window
ended. A shorter window's lock of a counter with several (the quarter hour of "3/15m,10/d")
ends at the upgrade, as dating it later would make the longer lock outlast its window.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.db import migrations, models

# Events beyond any limit's count change nothing; old counts also counted refused requests.
MOST_EVENTS_KEPT = 1000


def counts_to_events(apps: Any, schema_editor: Any) -> None:
    RateCounter = apps.get_model("ratelimits", "RateCounter")
    now = datetime.now(tz=UTC)
    windows: dict[str, list[tuple[int, int, int, datetime]]] = defaultdict(list)
    for row in RateCounter.objects.filter(expires_at__gt=now):
        # Old names: rl:<scope>:<digest>:<period seconds>:<window number>.
        name, period, window = row.key.rsplit(":", 2)
        windows[name].append((int(period), int(window), row.count, row.expires_at))
    RateCounter.objects.all().delete()
    for name, counted in windows.items():
        period, window, _, _ = max(counted)
        start = float(window * period)
        count = min(max(count for _, _, count, _ in counted), MOST_EVENTS_KEPT)
        events = [[start, f"upgraded-{n}"] for n in range(count)]
        expires_at = max(expires for *_, expires in counted)
        RateCounter.objects.create(key=name, count=0, events=events, expires_at=expires_at)


class Migration(migrations.Migration):
    dependencies = [
        ("ratelimits", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="ratecounter",
            name="events",
            field=models.JSONField(default=list),
        ),
        migrations.RunPython(counts_to_events, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="ratecounter",
            name="count",
        ),
    ]
