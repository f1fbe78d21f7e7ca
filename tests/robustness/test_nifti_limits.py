"""Each NIfTI source past the reading limits is quarantined with its reason, through a real
ingest (issue 24, item 8); the good session next to them is ingested."""

from __future__ import annotations

from pathlib import Path

from bench.support import hostile as H
from bench.support.cli import make_settings

REASONS = {"nan-affine": "non-finite affine", "inf-pixdim": "non-finite affine",
           "gzip-bomb": "more data than its header declares", "sparse": "sparse file"}


def test_nifti_sources_past_the_limits_are_quarantined_with_a_reason(tmp_path):
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    drop = Path(settings.drop_dir)
    cases = [H.make_case(drop, tmp_path / "outside", "nifti_limits", i, 11, variant=v)
             for i, v in enumerate(REASONS)]
    H.write_good_session(drop)
    summary = run_ingest(settings)
    outcomes = H.case_outcomes(cases, settings.quarantine_dir)
    for case in cases:
        docs = outcomes[case.case_id]
        assert docs, f"{case.variant} not quarantined"
        assert H.unquarantined_files(case, outcomes) == []
        reasons = " ".join(str(d.get("reason")) for d in docs)
        assert REASONS[case.variant] in reasons, (case.variant, reasons)
    assert any(Path(settings.bids_dir).glob("sub-*/ses-*")), summary
