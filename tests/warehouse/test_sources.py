"""warehouse/sources.py: what is read from the measures files before it is staged."""

from __future__ import annotations

from warehouse.sources import Batch, add_measures_doc


def test_failure_reasons_pass_the_redaction_step():
    """Issue 24 item 6: a reason written by an older run (or by hand) that quotes a
    registered value or a DICOM name reaches the warehouse as ``<id>``/``<name>``."""
    from calcisvd.redact import forget_identifiers, register_identifiers

    doc = {"subject": "sub-aa", "session": "ses-M00",
           "icac": {"status": "failed", "reason": "cannot read /exports/H1512204/ct.nii.gz"},
           "svd": {"status": "failed", "reason": "bad header NOVAK^WEI"}}
    batch = Batch()
    register_identifiers("PatientID", ["H1512204"])
    try:
        add_measures_doc(doc, "sub-aa/ses-M00", batch)
    finally:
        forget_identifiers()
    assert batch.rows["icac_session_measures"][0]["reason"] == \
        "cannot read /exports/<id>/ct.nii.gz"
    assert batch.rows["svd_measures"][0]["reason"] == "bad header <name>"
    assert doc["icac"]["reason"].endswith("H1512204/ct.nii.gz")  # the document is not changed
