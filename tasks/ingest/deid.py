"""De-identification: keyed pseudonyms, session labels, sidecar allow-list, NIfTI header scrub.

* Pseudonym = the first 10 hex characters of HMAC-SHA256(key, PatientID) (RFC 2104), the ID
  normalised first (:func:`normalise_patient_id`: NFC, stripped, upper case); the key is
  32 random bytes (``os.urandom``) stored hex-encoded in ``secrets/pseudonym.key`` (mode 0600),
  created on first use and kept outside the dataset and the warehouse.
* Session label = ``M<months>`` with months = round(days since the subject's first study /
  30.4375) (mean Gregorian month), zero-padded to two digits: ``M00``, ``M12``.
* Sidecars keep only :data:`SIDECAR_ALLOW` keys (acquisition physics; no names, IDs, dates,
  times, institutions, devices or free text).
* NIfTI-1 headers: ``descrip`` (80 bytes at offset 148), ``aux_file`` (24 at 228),
  ``db_name`` (18 at 4) and ``intent_name`` (16 at 328) are zeroed; they are the only free-text
  fields of the NIfTI-1 header (Cox et al., NIfTI-1 data format, 2004).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import unicodedata
from pathlib import Path
from typing import Final

DAYS_PER_MONTH: Final[float] = 30.4375

#: sidecar keys that describe the acquisition and cannot identify a person
SIDECAR_ALLOW: Final[frozenset[str]] = frozenset({
    "Modality", "MagneticFieldStrength", "Manufacturer", "ManufacturersModelName",
    "SoftwareVersions", "MRAcquisitionType", "ScanningSequence", "SequenceVariant",
    "ScanOptions", "SequenceName", "PulseSequenceType", "ImageType", "SliceThickness",
    "SpacingBetweenSlices", "EchoTime", "RepetitionTime", "InversionTime", "FlipAngle",
    "EchoTrainLength", "ImagingFrequency", "ReceiveCoilName", "CoilString",
    "PercentPhaseFOV", "PercentSampling", "PhaseEncodingSteps", "AcquisitionMatrixPE",
    "ReconMatrixPE", "PixelBandwidth", "PhaseEncodingAxis", "ImageOrientationPatientDICOM",
    "InPlanePhaseEncodingDirectionDICOM", "ConversionSoftware", "ConversionSoftwareVersion",
    "BodyPartExamined", "PatientPosition", "KVP", "XRayTubeCurrent", "XRayExposure",
    "ExposureTime", "ConvolutionKernel", "ReconstructionDiameter", "GantryDetectorTilt",
    "SpoilingState", "ParallelReductionFactorInPlane", "PartialFourier",
    "EstimatedEffectiveEchoSpacing", "EstimatedTotalReadoutTime", "SliceTiming",
    "NonlinearGradientCorrection", "Units", "SpiralPitchFactor", "DataCollectionDiameter",
    "CTDIvol", "GeometryCheck", "ResampledBy",
})
_NIFTI_TEXT_FIELDS: Final[tuple[tuple[int, int], ...]] = ((4, 18), (148, 80), (228, 24),
                                                          (328, 16))


class MissingKeyError(RuntimeError):
    """The pseudonym key (or re-identification map) is missing while a dataset exists."""


def load_or_create_key(path: Path, *, dataset_exists: bool = False) -> bytes:
    """Return the HMAC key at ``path``, creating 32 random bytes (mode 0600) on first use.

    With ``dataset_exists`` a missing key is never recreated (a new key would give every
    patient a second pseudonym): :class:`MissingKeyError` names the file to restore.
    """
    path = Path(path)
    if not path.exists() and dataset_exists:
        raise MissingKeyError(
            f"the pseudonym key {path} is missing but the BIDS dataset already has subjects; "
            f"restore {path.name} from your backup of {path.parent} (a new key would ingest "
            "every patient again under a new pseudonym). Nothing was changed.")
    if not path.exists():
        from calcisvd.permissions import secure_secrets

        secure_secrets(path.parent)  # 0700, whatever the umask
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created concurrently: read it below
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex() + "\n")
    text = path.read_text().strip()
    key = bytes.fromhex(text)
    if len(key) < 16:
        raise ValueError(f"pseudonym key {path.name} is too short")
    return key


def normalise_patient_id(patient_id: str) -> str:
    """The documented rule for hospital patient IDs: Unicode NFC, surrounding white space
    (spaces, tabs, DICOM padding) removed, upper case. ``h1512204 `` and ``H1512204`` are one
    patient; inner characters are kept as they are."""
    return unicodedata.normalize("NFC", patient_id or "").strip().upper()


def pseudonym(key: bytes, patient_id: str) -> str:
    """Subject label: first 10 hex characters of HMAC-SHA256(key, normalised PatientID)."""
    return hmac.new(key, normalise_patient_id(patient_id).encode("utf-8"),
                    hashlib.sha256).hexdigest()[:10]


def keyed_hash(key: bytes, text: str) -> str:
    """A full HMAC-SHA256 hex digest, used for ledger keys (UIDs, relative paths)."""
    return hmac.digest(key, b"ledger:" + text.encode("utf-8"), "sha256").hex()


#: PatientID values that name nobody (exports with identities removed or masked)
PLACEHOLDER_IDS = frozenset({"ANONYMOUS", "ANONYMIZED", "ANONYMISED", "ANON", "UNKNOWN", "NONE",
                             "NULL", "NA", "N/A", "PATIENT", "TEST", "PHANTOM", "REMOVED",
                             "DELETED", "MASKED", "XXX", "NOID", "NO ID", "0"})


def placeholder_id(value: str) -> str | None:
    """Why ``value`` is a placeholder rather than a patient identity, or ``None``.

    Empty, masking characters only (``***``, ``---``, ``???``), one character repeated
    (``0000000``, ``XXXXX``) or a word of :data:`PLACEHOLDER_IDS`.
    """
    v = (value or "").strip()
    if not v:
        return "empty PatientID"
    if all(not c.isalnum() for c in v):
        return f"masked PatientID ({len(v)} non-alphanumeric character(s))"
    if len(set(v)) == 1:
        return "PatientID of one repeated character"
    stem = v.upper().rstrip("0123456789 _-")
    if v.upper() in PLACEHOLDER_IDS or (len(stem) >= 4 and stem in PLACEHOLDER_IDS):
        return "placeholder PatientID (a word such as ANONYMOUS, not an identity)"
    return None


def parse_dicom_date(value: str) -> dt.date | None:
    """``YYYYMMDD`` (or ISO ``YYYY-MM-DD``) to a date; ``None`` when missing or invalid."""
    digits = (value or "").replace("-", "").strip()[:8]
    try:
        return dt.datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def session_label(days_since_baseline: int) -> str:
    """``M<months>``: months = round(days / 30.4375), two digits at least (``M00``, ``M12``)."""
    if days_since_baseline < 0:
        raise ValueError("a session cannot precede the subject's baseline")
    return f"M{round(days_since_baseline / DAYS_PER_MONTH):02d}"


def clean_sidecar(meta: dict) -> dict:
    """Keep only :data:`SIDECAR_ALLOW` keys, in a stable (sorted) order."""
    return {k: meta[k] for k in sorted(meta) if k in SIDECAR_ALLOW}


def sidecar_bytes(meta: dict) -> bytes:
    """Canonical JSON bytes of a cleaned sidecar (deterministic across runs)."""
    return (json.dumps(clean_sidecar(meta), indent=2, sort_keys=True) + "\n").encode()


def scrub_nifti_header(header: bytearray) -> bytearray:
    """Zero the free-text fields of a NIfTI-1 header (first 348 bytes) in place."""
    if len(header) < 348:
        raise ValueError("not a NIfTI-1 header")
    for offset, size in _NIFTI_TEXT_FIELDS:
        header[offset:offset + size] = bytes(size)
    return header
