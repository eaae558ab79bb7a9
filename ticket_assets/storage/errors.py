"""The store's own errors."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Base class of the store's own errors."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process kept the database file locked, or other writers kept conflicting with
    this one's commits, for longer than the lock timeout."""
