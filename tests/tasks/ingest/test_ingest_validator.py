"""The official BIDS validator reports 0 errors on the ingested dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def test_bids_validator_zero_errors(ingested):
    # a pinned dependency (requirements/lock.txt): missing means a broken environment, which
    # must fail here rather than skip the only check against the official validator
    assert VALIDATOR.exists(), f"{VALIDATOR} missing: run `make venv` (bids-validator-deno)"
    settings, _, _ = ingested
    proc = subprocess.run([str(VALIDATOR), str(settings.bids_dir), "--format", "json"],
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(proc.stdout)
    issues = report["issues"]["issues"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert errors == []
    assert report["summary"]["subjects"]
