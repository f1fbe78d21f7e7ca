"""`calcisvd receive` against real senders: Orthanc (C-STORE via its REST API) and pynetdicom.

The receiver runs as a real process (bench/support/pacs_helpers.py:ReceiverProcess) on a free port
of 127.0.0.1; Orthanc is Debian's, started by the ``orthanc`` fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest

from bench.support.orthanc import free_port
from bench.support.pacs_helpers import ReceiverProcess, dicom_files, echo
from tasks.pacs.store import INCOMING, PUBLISHED, uid_digest

PHI_KEYWORDS = ("PatientID", "PatientName", "PatientBirthDate", "AccessionNumber",
                "InstitutionName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                "ReferringPhysicianName")


def _datasets(drop: Path) -> list[pydicom.Dataset]:
    out = []
    for f in dicom_files(drop):
        try:
            out.append(pydicom.dcmread(f))
        except pydicom.errors.InvalidDicomError:
            continue  # the simulator's non-DICOM files
    return out


def _received(drop: Path) -> dict[str, Path]:
    """SOPInstanceUID -> file, for every .dcm under drop/ (published or incoming)."""
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
            for p in drop.rglob("*.dcm")}


def _phi_values(datasets) -> set[str]:
    vals = set()
    for ds in datasets:
        for kw in PHI_KEYWORDS:
            v = str(ds.get(kw, "") or "").strip()
            if len(v) >= 4:
                vals.add(v)
    return vals


def _sender(datasets, ae_title="SENDER"):
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    for sop in sorted({str(d.SOPClassUID) for d in datasets}):
        ae.add_requested_context(sop, sorted({str(d.file_meta.TransferSyntaxUID)
                                              for d in datasets}))
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 30
    return ae


@pytest.fixture
def receiver(tmp_path):
    proc = ReceiverProcess(tmp_path / "rx", free_port()).start()
    yield proc
    proc.kill()


def test_orthanc_push_lands_every_instance_whole(cohort, orthanc, receiver):
    files = dicom_files(cohort / "drop")
    datasets = _datasets(cohort / "drop")
    studies = orthanc.upload([f for f in files if f.stat().st_size and
                              f.read_bytes()[128:132] == b"DICM"])
    orthanc.add_modality("calcisvd", receiver.ae_title, receiver.port)
    assert orthanc.rest("POST", "/modalities/calcisvd/echo", {}) == {}
    out = orthanc.store("calcisvd", studies)
    assert out["FailedInstancesCount"] == 0 and out["InstancesCount"] == len(datasets)
    assert receiver.stop() == 0
    drop = receiver.home / "drop"
    got = _received(drop)
    assert set(got) == {str(d.SOPInstanceUID) for d in datasets}
    assert all(p.is_relative_to(drop / PUBLISHED) for p in got.values())
    assert not any((drop / INCOMING).rglob("*.dcm"))
    sent = {str(d.SOPInstanceUID): d for d in datasets}
    for uid, path in got.items():  # same dataset as sent (the file meta is the receiver's)
        assert pydicom.dcmread(path) == sent[uid]
    log = (receiver.home / "var" / "logs" / "receive-associations.jsonl").read_text()
    records = [json.loads(line) for line in log.splitlines()]
    stored = [r for r in records if r["event"] == "association" and r["instances"]]
    assert sum(r["instances"] for r in stored) == len(datasets)
    assert all(r["calling_ae"] == "ORTHANC" and r["outcome"] == "released" for r in stored)
    assert any(r["echoes"] == 1 for r in records if r["event"] == "association")
    assert "CT Image Storage" in stored[0]["sop_classes"]
    output = receiver.log_path.read_text()
    assert "listening on" in output
    leaked = [v for v in _phi_values(datasets) if v in log or v in output]
    assert leaked == [], "identifiers in the association log or the receiver's output"


def test_wrong_called_ae_title_is_rejected(receiver):
    assert echo(receiver.port, "SOMEONE_ELSE", timeout=5) is None
    assert echo(receiver.port, receiver.ae_title) == 0


SENDER_THEN_VANISH = r"""
import sys, os, socket, pydicom
from pynetdicom import AE
paths = sys.argv[3:]
ds = [pydicom.dcmread(p) for p in paths]
ae = AE(ae_title="VANISH")
for d in ds:
    ae.add_requested_context(str(d.SOPClassUID), str(d.file_meta.TransferSyntaxUID))
a = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title=sys.argv[2])
assert a.is_established
for d in ds:
    st = a.send_c_store(d)
    print(int(st.Status), d.SOPInstanceUID, flush=True)
# a P-DATA-TF PDU announcing 60 kB, of which only 100 bytes are sent; then the process ends
a.dul.socket.socket.sendall(b"\x04\x00" + (60000).to_bytes(4, "big") + b"\x00" * 100)
os._exit(0)
"""


def test_sender_vanishing_mid_association(cohort, receiver, tmp_path):
    files = [f for f in dicom_files(cohort / "drop") if "SE00002" in f.parts][:3]
    proc = subprocess.run([sys.executable, "-c", SENDER_THEN_VANISH, str(receiver.port),
                           receiver.ae_title, *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=True)
    acked = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("0 ")}
    assert len(acked) == 3
    assert echo(receiver.port, receiver.ae_title) == 0  # still serving
    assert receiver.stop() == 0
    got = _received(receiver.home / "drop")
    assert set(got) == acked
    assert all(p.is_relative_to(receiver.home / "drop" / PUBLISHED) for p in got.values())


def test_sigkill_loses_nothing_acknowledged(cohort, tmp_path):
    datasets = [d for d in _datasets(cohort / "drop") if "PixelData" in d]
    rx = ReceiverProcess(tmp_path / "rx", free_port()).start()
    ae = _sender(datasets)
    assoc = ae.associate("127.0.0.1", rx.port, ae_title=rx.ae_title)
    assert assoc.is_established
    acked: list[str] = []
    kill_after = 25
    killer = threading.Event()
    threading.Thread(target=lambda: (killer.wait(60), rx.kill()), daemon=True).start()
    for ds in datasets:
        try:
            status = assoc.send_c_store(ds)
        except (RuntimeError, OSError):
            break
        if not assoc.is_established or not status or "Status" not in status:
            break
        if int(status.Status) == 0:
            acked.append(str(ds.SOPInstanceUID))
        if len(acked) == kill_after:
            killer.set()  # SIGKILL from another thread while the sender keeps sending
    assoc.abort()
    killer.set()
    rx.proc.wait(timeout=30)
    assert rx.proc.returncode == -9
    assert kill_after <= len(acked) < len(datasets)
    drop = rx.home / "drop"
    sent = {str(d.SOPInstanceUID): d for d in datasets}
    got = _received(drop)  # still under drop/.incoming/: acknowledged, not yet published
    assert set(acked) <= set(got)
    for uid in acked:
        assert pydicom.dcmread(got[uid]) == sent[uid]  # complete, byte-exact dataset
    assert not [p for p in drop.rglob("*") if p.is_file() and not p.name.endswith(".dcm")
                and not p.name.startswith(".tmp-")]
    rx2 = ReceiverProcess(rx.home, free_port()).start()  # a restart publishes what was kept
    assert rx2.stop() == 0
    got = _received(drop)
    assert set(acked) <= set(got)
    assert all(p.is_relative_to(drop / PUBLISHED) for p in got.values())
    assert not any((drop / INCOMING).rglob("*"))
    name = uid_digest(acked[0])
    assert [p.name for p in (drop / PUBLISHED).rglob(f"{name}.dcm")] == [f"{name}.dcm"]


def test_invalid_settings_end_with_a_clear_message(tmp_path):
    import os

    from bench.support.pacs_helpers import BIN

    (tmp_path / "h").mkdir()  # an existing home (a missing one is refused before this)
    env = {**os.environ, "CALCISVD_HOME": str(tmp_path / "h")}
    proc = subprocess.run([str(BIN / "calcisvd"), "receive", "--ae-title", "X" * 17],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "at most 16" in proc.stderr
    proc = subprocess.run([str(BIN / "calcisvd"), "receive", "--port", "70000"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "outside 1-65535" in proc.stderr


def test_compressed_and_implicit_transfer_syntaxes_stored_as_sent(cohort, receiver):
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless
    from pynetdicom import AE

    ct = [d for d in _datasets(cohort / "drop") if d.Modality == "CT" and "PixelData" in d][:3]
    rle, implicit, deflated = (pydicom.Dataset(d) for d in ct)
    for ds, src in zip((rle, implicit, deflated), ct, strict=True):
        ds.file_meta = pydicom.dataset.FileMetaDataset(src.file_meta)
    rle.compress(RLELossless)
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ae = AE(ae_title="SYNTAXES")
    for ts in (RLELossless, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        ae.add_requested_context(ct[0].SOPClassUID, ts)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title=receiver.ae_title)
    assert assoc.is_established
    assert [int(assoc.send_c_store(d).Status) for d in (rle, implicit, deflated)] == [0, 0, 0]
    assoc.release()
    assert receiver.stop() == 0
    got = _received(receiver.home / "drop")
    for ds, src, ts in zip((rle, implicit, deflated), ct,
                           (RLELossless, ImplicitVRLittleEndian,
                            DeflatedExplicitVRLittleEndian), strict=True):
        stored = pydicom.dcmread(got[str(ds.SOPInstanceUID)])
        assert stored.file_meta.TransferSyntaxUID == ts  # not transcoded
        assert (stored.pixel_array == src.pixel_array).all()
