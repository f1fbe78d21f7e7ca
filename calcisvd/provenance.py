"""Code version and revision recorded in every output."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from calcisvd import __version__

_REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def code_revision() -> str:
    """Git commit of the running code (``+dirty`` when modified), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version_string() -> str:
    """``<version>+<revision>``."""
    return f"{__version__}+{code_revision()}"
