"""Autom Mate account core: sign-in, user management, mail server settings, Forgot Password."""

from __future__ import annotations

__version__ = "0.1.0"
