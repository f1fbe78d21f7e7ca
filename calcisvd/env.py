"""Process environment the project sets for itself (offline operation, quiet telemetry).

Called once by entry points (the CLI, the test suite, benchmarks) before Prefect, Nipype or
Great Expectations are imported. Values already set by the user are kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFFLINE_ENV: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "NIPYPE_NO_ET": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "INFO",
    # calcisvd's own log lines also go to the Prefect API (the run's logs in the UI)
    "PREFECT_LOGGING_EXTRA_LOGGERS": "calcisvd",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "MPLBACKEND": "Agg",
}


def apply_offline_env(prefect_home: str | None = None,
                      environ: MutableMapping[str, str] | None = None) -> None:
    """Set the offline/telemetry variables, and PREFECT_HOME when given and not set already."""
    env = os.environ if environ is None else environ
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    if prefect_home:
        env.setdefault("PREFECT_HOME", prefect_home)
