"""The harness's own errors: each says what was wrong and what to do.

Every error a candidate can cause with a command (an unknown lab, a lab not
started, a malformed marker, a corrupt progress file) derives from
:class:`KitError`. The CLI catches that one class, in one place, and prints
the message; anything else is a bug in the kit and keeps its traceback.
"""

from __future__ import annotations


class KitError(Exception):
    """A problem the person at the keyboard can fix; the message says how."""
