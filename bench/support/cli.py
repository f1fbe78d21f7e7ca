"""Shared helpers for robustness tests and bench: settings with a fixed key, subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: a fixed HMAC key so that two homes give the same pseudonyms (and the same BIDS tree)
FIXED_KEY = bytes(range(32))


def make_settings(home: Path, **overrides):
    """Resolved settings rooted in ``home`` with a fixed pseudonym key already in place."""
    from calcisvd.settings import load_settings

    settings = load_settings(env={}, overrides={"home": home, "n_procs": 1, **overrides})
    key = settings.pseudonym_key_path
    key.parent.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        key.write_text(FIXED_KEY.hex() + "\n")
        os.chmod(key, 0o600)
    return settings


def cli_env(home: Path) -> dict[str, str]:
    """Environment for a ``calcisvd`` subprocess (offline, own Prefect home, no config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALCISVD_")}
    env.update({"PYTHONPATH": str(REPO), "PREFECT_HOME": str(Path(home) / "var" / "prefect"),
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def cli_command(*argv: str) -> list[str]:
    """``python -m calcisvd.cli <argv>`` with this interpreter."""
    return [sys.executable, "-c", "import sys; from calcisvd.cli import main; "
            "sys.exit(main(sys.argv[1:]))", *argv]


def run_cli(home: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``calcisvd <argv> --home <home>`` in a subprocess and wait for it."""
    return subprocess.run(cli_command(*argv, "--home", str(home)), cwd=REPO, env=cli_env(home),
                          capture_output=True, text=True, timeout=timeout, check=False)


def warehouse_hash(settings) -> str:
    """SHA-256 of the curated tables ordered by key, without run ids and load times."""
    import hashlib

    import duckdb

    from warehouse.load import CURATED

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    h = hashlib.sha256()
    try:
        for table, (keys, _, _, skip) in CURATED.items():
            cols = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description
                    if d[0] not in skip]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {table} "
                               f"ORDER BY {', '.join(keys)}").fetchall()
            h.update(table.encode() + repr(rows).encode())
    finally:
        con.close()
    return h.hexdigest()
