"""The `les` console script: the feature commands plus training, registry and report commands."""

from __future__ import annotations

from features.cli import app, console

__all__ = ["app", "console"]
