"""Exceptions the command line reports as one line (exit 2) rather than a traceback.

Kept free of heavy imports: ``deepaudit --help`` imports this module and nothing that loads numpy.
"""
from __future__ import annotations


class IndexLockedError(RuntimeError):
    """The run store's SQLite index stayed locked by another process for ``deepaudit.audit.store.LOCK_WAIT_S``."""
