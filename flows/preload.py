"""Start-up work of the warehouse and analytics stages, done while quantify waits.

During the quantify stage the pipeline's own process only waits: each session runs in a worker
process (``tasks/quantify/pool.py``), one core per session. What load, validate and analyze
then spend before doing any work (importing Great Expectations, statsmodels, matplotlib; the
GX file context and the registration of the expectation suites) does not depend on the new
measurements, so :func:`start_preload` does it in a background thread beside quantify, and the
pipeline waits for that thread (:meth:`Preload.wait`) before the load stage starts. Nothing is
skipped: the same imports and the same GX registrations happen, earlier and beside the
quantification instead of after it. A failure in the thread is logged and left to the stage,
which then does the work itself (and reports the error the usual way).

Same idea as :func:`tasks.ingest.layout.preload_pybids` (pybids imported while dcm2niix runs).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from pathlib import Path

#: imported for load and validate (GX: several seconds) and analyze (statistics, figures)
LOAD_MODULES = ("great_expectations", "expectations.runner", "warehouse.load")
ANALYZE_MODULES = ("scipy.stats", "scipy.optimize", "statsmodels.api",
                   "statsmodels.formula.api", "statsmodels.miscmodels.ordinal_model",
                   "tasks.stats.analysis", "tasks.report.render", "jinja2")

log = logging.getLogger("calcisvd.flows.preload")


class Preload:
    """A background thread doing the start-up work; :meth:`wait` joins it."""

    def __init__(self, gx_dir: Path | None, analyze: bool) -> None:
        self.gx_dir, self.analyze = gx_dir, analyze
        self.seconds: float | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="calcisvd-preload", daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            for name in LOAD_MODULES:
                importlib.import_module(name)
            if self.gx_dir is not None:
                from expectations.runner import register_suites

                register_suites(self.gx_dir)
            if self.analyze:
                for name in ANALYZE_MODULES:
                    importlib.import_module(name)
                from tasks.report.figures import use_agg

                use_agg()
        except Exception as exc:  # the stage does the work itself and reports any error
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("preload of the later stages failed (they start it themselves): %s",
                        self.error)
        finally:
            self.seconds = round(time.perf_counter() - t0, 2)

    def wait(self) -> None:
        """Block until the thread is done (at once when it already is)."""
        self.thread.join()


def start_preload(gx_dir: Path | None, analyze: bool = True) -> Preload:
    """Start the start-up work of load/validate (GX context and suites under ``gx_dir``;
    None: imports only) and, with ``analyze``, of the analytics; returns its handle."""
    preload = Preload(gx_dir, analyze)
    preload.thread.start()
    return preload
