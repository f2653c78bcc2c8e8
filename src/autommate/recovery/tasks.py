"""Background tasks of Forgot Password: thin front doors onto the services."""

from __future__ import annotations

from django.tasks import task

from . import services


@task(queue_name="mail")
def reset_request_process(request_id: int) -> None:
    """Look up the address of a forgot-password request and record the reset mail."""
    services.reset_request_process(request_id)
