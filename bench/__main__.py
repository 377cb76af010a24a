"""Run every benchmark module in this folder (``bench_*.py``) in turn, or those named."""

import importlib
import pkgutil
import sys

import bench

if __name__ == "__main__":  # not again in the processes a benchmark spawns
    selected = sys.argv[1:]
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if module.startswith("bench_") and (not selected or module in selected):
            print(f"== {module}")
            importlib.import_module(f"bench.{module}").main()
