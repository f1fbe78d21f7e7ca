"""Pseudonyms, session labels, key handling, sidecar allow-list and NIfTI header scrub."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pytest

from tasks.ingest.deid import (
    clean_sidecar,
    load_or_create_key,
    pseudonym,
    scrub_nifti_header,
    session_label,
)


def test_pseudonym_is_hmac_sha256_prefix():
    key = bytes(range(32))
    expected = hmac.new(key, b"HOSP0001", hashlib.sha256).hexdigest()[:10]
    assert pseudonym(key, "HOSP0001") == expected
    assert len(pseudonym(key, "x")) == 10
    assert pseudonym(key, "HOSP0001") != pseudonym(bytes(32), "HOSP0001")


def test_session_label_months():
    assert session_label(0) == "M00"
    assert session_label(15) == "M00"
    assert session_label(16) == "M01"
    assert session_label(365) == "M12"
    assert session_label(368) == "M12"
    assert session_label(730) == "M24"
    with pytest.raises(ValueError):
        session_label(-1)


def test_key_created_once_mode_0600(tmp_path):
    path = tmp_path / "secrets" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_sidecar_allow_list_drops_phi():
    meta = {"InstitutionName": "X Hospital", "StationName": "CT1", "SeriesDescription": "t1",
            "AcquisitionTime": "10:20:01", "PatientName": "A^B", "EchoTime": 0.025,
            "RepetitionTime": 2.0, "Modality": "MR", "DeviceSerialNumber": "1"}
    assert clean_sidecar(meta) == {"EchoTime": 0.025, "Modality": "MR", "RepetitionTime": 2.0}


def test_scrub_header_text_fields():
    hdr = bytearray(b"\x5c\x01\x00\x00" + b"A" * 344 + b"\x00" * 4)
    scrub_nifti_header(hdr)
    assert hdr[148:228] == bytes(80)
    assert hdr[228:252] == bytes(24)
    assert hdr[4:22] == bytes(18)
    assert hdr[328:344] == bytes(16)
    assert hdr[100:104] == b"AAAA"  # other fields untouched
