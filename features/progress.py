"""The progress callback library code takes, so it reports steps without knowing about a terminal."""

from __future__ import annotations

from collections.abc import Callable

Advance = Callable[[str, int], None]  # (step description, tasks in that step) -> called per task
