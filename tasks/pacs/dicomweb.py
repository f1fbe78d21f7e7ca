"""Pull the cohort's new studies from a PACS over DICOMweb (QIDO-RS search, WADO-RS retrieve).

Each study is retrieved into its own batch (:class:`tasks.pacs.store.Batch`, prefix ``pull``)
and published into ``drop/pacs/`` in one rename once all its instances are on disk, so
ingestion never sees half a study. What was pulled is remembered in
``var/pacs/pull_state.json`` (written atomically after each study): the keyed hash
(HMAC with the pseudonym key) of each StudyInstanceUID with its instance count, and the date
of the last pull. No identifier is stored in clear, logged or returned.

"Newer than the last pull": QIDO-RS asks for ``StudyDate >= last pull - lookback_days``
(the first pull asks for everything); a study already pulled is fetched again only when the
PACS reports more instances than were pulled (a series added later). A re-sent copy costs
nothing downstream: ingestion recognises instances it has by UID and content.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.pacs.config import DicomwebConfig
from tasks.pacs.store import Batch, new_batch_name

BATCH_PREFIX = "pull"
STATE_VERSION = 1
#: WADO-RS: the instances as stored, without transcoding (PS3.18 8.7.3.5.2, "*")
MEDIA_TYPES = (("application/dicom", "*"),)
_TAG_DATE, _TAG_UID, _TAG_COUNT = "00080020", "0020000D", "00201208"


@dataclass(frozen=True)
class StudyRef:
    """One study found by QIDO-RS (the UID is in clear: never log or return it)."""

    uid: str
    date: str  # YYYYMMDD or ""
    instances: int  # NumberOfStudyRelatedInstances, 0 if the PACS did not say


def _value(attrs: dict, tag: str) -> Any:
    vals = (attrs.get(tag) or {}).get("Value") or []
    return vals[0] if vals else None


def study_refs(results: list[dict]) -> list[StudyRef]:
    """QIDO-RS study results (DICOM JSON) -> :class:`StudyRef`, one per UID, sorted by date."""
    refs: dict[str, StudyRef] = {}
    for attrs in results:
        uid = _value(attrs, _TAG_UID)
        if not uid:
            continue
        count = _value(attrs, _TAG_COUNT)
        refs[uid] = StudyRef(uid=str(uid), date=str(_value(attrs, _TAG_DATE) or ""),
                             instances=int(count) if count not in (None, "") else 0)
    return sorted(refs.values(), key=lambda r: (r.date, r.uid))


def empty_state() -> dict[str, Any]:
    """The state before the first pull."""
    return {"version": STATE_VERSION, "last_pull": None, "studies": {}}


def load_state(path: Path) -> dict[str, Any]:
    """The pull state at ``path`` (empty when absent); ValueError naming the file if corrupt."""
    path = Path(path)
    if not path.exists():
        return empty_state()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: pull state is not valid JSON ({exc}); move it aside to "
                         "pull everything again") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: unknown pull state version")
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically (temp file + fsync + rename)."""
    from calcisvd.io import atomic_write_json

    atomic_write_json(Path(path), state)


def since_filter(last_pull: str | None, lookback_days: int) -> str | None:
    """QIDO-RS StudyDate range ``YYYYMMDD-`` from the last pull minus the look-back, or None."""
    if not last_pull:
        return None
    start = dt.date.fromisoformat(last_pull) - dt.timedelta(days=lookback_days)
    return start.strftime("%Y%m%d") + "-"


def study_key(key: bytes, uid: str) -> str:
    """Keyed hash of a StudyInstanceUID (as the ingest ledger keys UIDs)."""
    from tasks.ingest.deid import keyed_hash

    return keyed_hash(key, "pacs-study:" + uid)


def to_fetch(refs: list[StudyRef], state: dict[str, Any], key: bytes) -> list[StudyRef]:
    """Studies not pulled yet, or with more instances on the PACS than were pulled."""
    seen = state.get("studies", {})
    out = []
    for ref in refs:
        had = seen.get(study_key(key, ref.uid))
        if had is None or (ref.instances and ref.instances > int(had.get("instances", 0))):
            out.append(ref)
    return out


class PacsError(RuntimeError):
    """A DICOMweb request failed; the message holds no identifier (no URL, no query)."""


def _what_failed(exc: BaseException) -> str:
    """HTTP status or exception type only: request URLs carry PatientIDs and UIDs."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def make_client(cfg: DicomwebConfig, timeout_s: float = 120.0):
    """A dicomweb-client for the configured PACS."""
    from dicomweb_client.api import DICOMwebClient

    return DICOMwebClient(url=cfg.url, timeout=timeout_s)


def query(client, cfg: DicomwebConfig, since: str | None) -> list[StudyRef]:
    """QIDO-RS: the studies of every listed patient (or of the query) from ``since`` on."""
    base = dict(cfg.filters)
    if since:
        base["StudyDate"] = since
    fields = ["StudyDate", "NumberOfStudyRelatedInstances"]
    results: list[dict] = []
    for i, pid in enumerate(cfg.patient_ids or (None,)):
        filters = dict(base) if pid is None else {**base, "PatientID": pid}
        try:
            results += client.search_for_studies(search_filters=filters, fields=fields,
                                                 get_remaining=True)
        except Exception as exc:  # re-raised without the URL (it holds the PatientID)
            raise PacsError(f"QIDO-RS study search failed for patient {i + 1} of the list: "
                            f"{_what_failed(exc)}") from None
    return study_refs(results)


def part10_bytes(ds) -> bytes:
    """A retrieved dataset as DICOM Part 10 bytes: as sent when it came as a Part 10 file
    (preamble and file meta kept, so the bytes equal the PACS's), else with file meta added."""
    meta = getattr(ds, "file_meta", None)
    as_sent = bool(getattr(ds, "preamble", None)) and meta is not None and \
        "TransferSyntaxUID" in meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=not as_sent)
    return buf.getvalue()


def retrieve(client, drop_dir: Path, ref: StudyRef) -> tuple[str | None, int]:
    """WADO-RS: every instance of one study into a batch, then publish it into drop/pacs/.

    Returns (batch name or None when the study had no instances, instances written).
    A failure part-way discards the batch (never published, not recorded: the next pull
    fetches the study again); a killed pull's batch is discarded by the next pull.
    """
    import shutil

    batch = Batch(drop_dir, new_batch_name(BATCH_PREFIX))
    try:
        for ds in client.iter_study(ref.uid, media_types=MEDIA_TYPES):
            batch.write(part10_bytes(ds), str(ds.StudyInstanceUID),
                        str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    except BaseException as exc:
        shutil.rmtree(batch.path, ignore_errors=True)  # not complete: never published
        if isinstance(exc, Exception):  # re-raised without the URL (it holds the UID)
            raise PacsError(f"WADO-RS retrieve failed after {batch.count} instance(s): "
                            f"{_what_failed(exc)}") from None
        raise
    published = batch.publish()
    return (published.name if published else None), batch.count


def record(state: dict[str, Any], key: bytes, ref: StudyRef, instances: int,
           batch: str | None) -> None:
    """Remember a pulled study in ``state`` (keyed hash only)."""
    state.setdefault("studies", {})[study_key(key, ref.uid)] = {
        "instances": max(instances, ref.instances), "batch": batch,
        "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
