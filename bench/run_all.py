"""Run every benchmark in turn (`make bench`); each writes bench/results/<name>.json.

    python -m bench.run_all                 # all (hours at the paper's scale)
    python -m bench.run_all ingest warehouse

The benchmarks are independent scripts; see each module's docstring for its options.
"""

from __future__ import annotations

import runpy
import sys
import time

BENCHMARKS = ("simulate", "ingest", "accuracy_ct", "speed_ct", "accuracy_mri", "speed_mri",
              "warehouse", "robustness", "pipeline", "analytics")


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all) with their default options."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        t0 = time.perf_counter()
        print(f"=== bench.{name}", flush=True)
        saved = sys.argv
        sys.argv = [f"bench.{name}"]
        try:
            runpy.run_module(f"bench.{name}", run_name="__main__")
        finally:
            sys.argv = saved
        print(f"=== bench.{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
