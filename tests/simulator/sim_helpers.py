"""Helpers shared by the simulator tests (imported by name: the folder is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

RES = 4.0


def fault(export: dict, name: str) -> list[dict]:
    """The recorded faults of one kind."""
    return [f for f in export["summary"]["faults"] if f["fault"] == name]


def truth_of(export: dict, pid: str, visit: str) -> dict:
    """truth.json of one visit."""
    return json.loads((Path(export["truth"]) / pid / visit / "truth.json").read_text())


def in_drop(export: dict, rel: str) -> Path:
    """Absolute path of a path recorded relative to the drop folder."""
    return Path(export["drop"]) / rel
