"""Benchmarks. Each prints its measurements as ratios against a baseline run in the same
process (never asserted by time). Run all with ``make bench`` or ``python -m bench``."""
