"""Background tasks of the delivery queue: thin front doors onto the services."""

from __future__ import annotations

from django.tasks import task

from . import services


@task(queue_name="mail")
def deliver_due() -> int:
    """Send every outgoing message that is due."""
    return services.deliver_due()
