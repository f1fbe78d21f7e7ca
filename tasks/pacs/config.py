"""Checked PACS settings: the receiver's AE title and port, the DICOMweb source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PATIENT_LIST = "pacs_patients.txt"


@dataclass(frozen=True)
class ReceiverConfig:
    """Where ``calcisvd receive`` listens and writes."""

    ae_title: str
    host: str
    port: int
    drop_dir: Path
    log_path: Path


@dataclass(frozen=True)
class DicomwebConfig:
    """What the DICOMweb pull asks for and where it writes (patient IDs never logged)."""

    url: str
    patient_ids: tuple[str, ...]
    filters: dict[str, str]
    lookback_days: int
    drop_dir: Path
    state_path: Path
    key_path: Path


def check_ae_title(value: str) -> str:
    """The AE title without padding; ValueError naming the rule it breaks.

    DICOM PS3.5 6.2 (AE): 1-16 characters of the default repertoire, no backslash and no
    control characters; leading and trailing spaces are not significant, all-space is invalid.
    """
    title = str(value).strip()
    if not title:
        raise ValueError("receive_ae_title: empty (DICOM AE titles have 1-16 characters)")
    if len(title) > 16:
        raise ValueError(f"receive_ae_title: {len(title)} characters (DICOM allows at most 16)")
    bad = [c for c in title if not (32 <= ord(c) < 127) or c == "\\"]
    if bad:
        raise ValueError("receive_ae_title: only printable ASCII without backslash is allowed "
                         f"(found {bad[0]!r})")
    return title


def check_port(value: Any) -> int:
    """A TCP port 1-65535; ValueError otherwise."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"receive_port: not a number: {value!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"receive_port: {port} is outside 1-65535")
    return port


def receiver_config(settings) -> ReceiverConfig:
    """Receiver settings, checked (ValueError with the setting's name when one is invalid)."""
    return ReceiverConfig(ae_title=check_ae_title(settings.receive_ae_title),
                          host=str(settings.receive_host or "127.0.0.1"),
                          port=check_port(settings.receive_port),
                          drop_dir=Path(settings.drop_dir),
                          log_path=Path(settings.logs_dir) / "receive-associations.jsonl")


def parse_filters(text: str | None) -> dict[str, str]:
    """``"Key=value;Key=value"`` -> dict (QIDO-RS attribute keywords or tags)."""
    out: dict[str, str] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"dicomweb_query: {part.strip()!r} is not Key=value")
        out[key.strip()] = value.strip()
    return out


def read_patient_list(path: Path) -> tuple[str, ...]:
    """PatientIDs, one a line (blank lines and ``#`` comments ignored), in file order."""
    ids: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and line not in ids:
            ids.append(line)
    return tuple(ids)


def dicomweb_config(settings) -> DicomwebConfig:
    """DICOMweb settings, checked: a URL and a patient list or a query are required."""
    url = (settings.dicomweb_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError("dicomweb_url: set it to the PACS's DICOMweb root "
                         "(e.g. http://pacs:8042/dicom-web)")
    path = Path(settings.pacs_patient_list or Path(settings.secrets_dir) / PATIENT_LIST)
    ids = read_patient_list(path) if path.is_file() else ()
    if settings.pacs_patient_list and not path.is_file():
        raise ValueError(f"pacs_patient_list: file not found: {path}")
    filters = parse_filters(settings.dicomweb_query)
    if not ids and not filters:
        raise ValueError(f"no cohort to pull: write PatientIDs (one a line) to {path} or set "
                         "dicomweb_query")
    days = int(settings.dicomweb_lookback_days)
    if days < 0:
        raise ValueError("dicomweb_lookback_days: must be >= 0")
    return DicomwebConfig(url=url, patient_ids=ids, filters=filters, lookback_days=days,
                          drop_dir=Path(settings.drop_dir),
                          state_path=Path(settings.var_dir) / "pacs" / "pull_state.json",
                          key_path=Path(settings.pseudonym_key_path))
