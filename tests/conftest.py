"""Test-suite settings.

Hypothesis runs derandomised, so the examples are the same on every run and in CI: a property
test that passes once passes always, and a failure found while developing stays reproducible.
Set ``HYPOTHESIS_PROFILE=explore`` to search with fresh random examples instead.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
