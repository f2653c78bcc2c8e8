"""Background tasks of the delivery queue: thin front doors onto the services."""

from __future__ import annotations

from django.tasks import task

from . import services

# Ahead of other tasks: a delivery also processes the forgot-password requests still waiting
# for their task (services.register_before_claim), and mail waits for nothing else.
DELIVERY_PRIORITY = 10


@task(queue_name="mail", priority=DELIVERY_PRIORITY)
def deliver_due() -> int:
    """Send every outgoing message that is due."""
    return services.deliver_due()
