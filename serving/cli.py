"""The `les` console script: the one app, built from the commands each room declares.

Serving imports training and features, never the reverse, so the full command set is assembled
here; the rooms only declare theirs (`COMMANDS`) and none registers itself on import.
"""

from __future__ import annotations

from features import commands as feature_commands
from features import ingest_commands
from features.console import build_app
from serving import commands as serving_commands
from training import commands as training_commands
from training.library_logs import quiet_libraries
from training.monitor import commands as monitor_commands
from training.reports import commands as report_commands
from training.scoring import commands as scoring_commands

__all__ = ["app"]

app = build_app(
    (
        *feature_commands.COMMANDS,
        *ingest_commands.COMMANDS,
        *training_commands.COMMANDS,
        *scoring_commands.COMMANDS,
        *report_commands.COMMANDS,
        *monitor_commands.COMMANDS,
        *serving_commands.COMMANDS,
    ),
    groups=ingest_commands.GROUPS,
    callback=quiet_libraries,
)
