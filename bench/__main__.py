"""Run every benchmark module in this folder (``bench_*.py``) in turn."""

import importlib
import pkgutil
import sys

import bench

selected = sys.argv[1:]
for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
    if module.startswith("bench_") and (not selected or module in selected):
        print(f"== {module}")
        importlib.import_module(f"bench.{module}").main()
