"""The one base of every error les raises for a user.

An error of this family is written for the person at the terminal or the client: its message is the
whole story (the field, the value, what was expected), so the CLI prints it as one line and exits 2
and the service answers it as a 4xx. Each subclass also keeps its builtin parent (ValueError,
OSError, ...) so callers that catch those keep working.
"""

from __future__ import annotations


class LesError(Exception):
    """Bad input or a refused action, described for the user; never a bug in les."""
