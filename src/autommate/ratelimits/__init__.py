"""Rate limits shared by every process: Redis when configured, the database otherwise."""

from __future__ import annotations
