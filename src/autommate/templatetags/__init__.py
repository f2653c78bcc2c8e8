"""Template tags every page's layout uses."""

from __future__ import annotations
