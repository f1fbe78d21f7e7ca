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
    if any(getattr(h, "_calcisvd", False) for h in root.handlers):
        _redact(settings, root.handlers)
        return
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
    """Drop-folder paths leave as hashes (calcisvd/redact.py)."""
    from calcisvd.redact import install

    drop = getattr(settings, "drop_dir", None)
    if drop is not None:
        install(sorted({Path(drop).absolute(), Path(drop).resolve()}, key=lambda p: -len(str(p))),
                [h for h in handlers if getattr(h, "_calcisvd", 0)])


def get_logger(name: str) -> logging.Logger:
    """A child of the ``calcisvd`` logger (``calcisvd.<name>``)."""
    return logging.getLogger(f"calcisvd.{name}")
