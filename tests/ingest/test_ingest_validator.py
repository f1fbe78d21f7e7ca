"""The official BIDS validator reports 0 errors on the ingested dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


@pytest.mark.skipif(not VALIDATOR.exists(), reason="bids-validator-deno not installed")
def test_bids_validator_zero_errors(ingested):
    settings, _, _ = ingested
    proc = subprocess.run([str(VALIDATOR), str(settings.bids_dir), "--format", "json"],
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(proc.stdout)
    issues = report["issues"]["issues"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert errors == []
    assert report["summary"]["subjects"]
