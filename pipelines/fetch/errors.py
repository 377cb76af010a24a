"""The error a fetch raises: one line naming the wave and the source, credentials redacted."""

from __future__ import annotations

from collab_stats.errors import CollabStatsError

__all__ = ["FetchError"]


class FetchError(CollabStatsError):
    """A wave's responses could not be fetched from a survey platform.

    The message is one line: the wave, the source and what to check (a missing credential,
    a token refused, a survey the API says does not exist, a download cut short or not in the
    expected format...). It never holds a credential. Nothing of that source was written to
    the inbox or the store."""
