"""Readable logs: one format for the terminal and ``var/logs/calcisvd.log``; never PHI."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calcisvd.settings import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(settings: Settings) -> None:
    """Log to stderr and to ``<logs_dir>/calcisvd.log`` at the configured level."""
    root = logging.getLogger("calcisvd")
    root.setLevel(settings.log_level)
    root.propagate = False  # printed once, by our handlers (Prefect's root handler would repeat)
    ours = [h for h in root.handlers if getattr(h, "_calcisvd", False)]
    want = (str((settings.logs_dir / "calcisvd.log").absolute())
            if settings.logs_dir is not None else None)
    files = [h.baseFilename for h in ours if isinstance(h, logging.FileHandler)]
    if ours and files == ([want] if want else []):
        _redact(settings, root.handlers)
        return
    for h in ours:  # another home in this process (tests, a worker serving several homes)
        root.removeHandler(h)
        h.close()
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    console._calcisvd = True  # type: ignore[attr-defined]
    root.addHandler(console)
    if settings.logs_dir is not None:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(settings.logs_dir / "calcisvd.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter(FORMAT))
        fh._calcisvd = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    _redact(settings, root.handlers)


def _redact(settings: Settings, handlers: list[logging.Handler]) -> None:
    """Drop-folder paths leave as hashes, values ingest registered (in this process or an
    earlier one: ``secrets/redact_values.txt``) as ``<id>`` (calcisvd/redact.py)."""
    from calcisvd.redact import STORE_NAME, install, use_store

    secrets = getattr(settings, "secrets_dir", None)
    use_store(Path(secrets) / STORE_NAME if secrets is not None else None)

    drop = getattr(settings, "drop_dir", None)
    if drop is not None:
        install(sorted({Path(drop).absolute(), Path(drop).resolve()}, key=lambda p: -len(str(p))),
                [h for h in handlers if getattr(h, "_calcisvd", 0)])


def get_logger(name: str) -> logging.Logger:
    """A child of the ``calcisvd`` logger (``calcisvd.<name>``)."""
    return logging.getLogger(f"calcisvd.{name}")
