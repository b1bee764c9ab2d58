"""The time, in one place: every schedule decision asks `now()`, so tests can move time forward."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)
