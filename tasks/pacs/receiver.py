"""``calcisvd receive``: a DICOM Storage SCP that lands instances in the drop folder.

Built on pynetdicom. It accepts every storage SOP class pynetdicom knows with every transfer
syntax it knows (instances are stored as received, never decoded or transcoded), answers
C-ECHO, and writes each instance with :class:`tasks.pacs.store.Batch` (durable before the
success status is sent). One association = one batch, published into ``drop/pacs/`` when the
connection closes, however it closes (release, abort, a sender that vanished).

The association log (``var/logs/receive-associations.jsonl``, one JSON object a line) holds
AE titles, peer address, counts, SOP classes, statuses and times: no patient or study
attributes and no UIDs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.pacs.config import ReceiverConfig
from tasks.pacs.store import Batch, new_batch_name, recover_incoming

BATCH_PREFIX = "push"
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: refused, out of resources
CANNOT_UNDERSTAND = 0xC000  # PS3.4 B.2.3: error, cannot understand


@dataclass
class _Assoc:
    """What the log keeps of one association (no identifiers)."""

    calling_ae: str
    called_ae: str
    peer: str
    started: float = field(default_factory=time.monotonic)
    batch: Batch | None = None
    sop_classes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    echoes: int = 0
    outcome: str = "closed"
    errors: Counter = field(default_factory=Counter)


class AssociationLog:
    """Append-only JSON-lines log of associations; each line written with one ``write``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (``time`` added, UTC)."""
        record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                  **record}
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


class StorageSCP:
    """The receiver: pynetdicom AE, handlers, batches, association log."""

    def __init__(self, cfg: ReceiverConfig):
        self.cfg = cfg
        self.log = AssociationLog(cfg.log_path)
        self._assocs: dict[int, _Assoc] = {}
        self._lock = threading.Lock()
        self.server = None

    # pynetdicom wiring ------------------------------------------------------------------
    def make_ae(self):
        """The pynetdicom AE: every storage SOP class x every transfer syntax, plus C-ECHO."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config
        from pynetdicom.sop_class import Verification

        # pynetdicom's own debug log would print C-STORE identifiers (PatientID, UIDs)
        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
        ae = AE(ae_title=self.cfg.ae_title)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
        ae.require_called_aet = True  # refuse associations addressed to another AE title
        ae.maximum_associations = 16
        ae.network_timeout = 120  # a silent sender is dropped (and its batch published)
        return ae

    def handlers(self) -> list:
        """(event, handler) pairs for ``AE.start_server``."""
        from pynetdicom import evt

        return [(evt.EVT_CONN_OPEN, self._on_open), (evt.EVT_ACCEPTED, self._on_accepted),
                (evt.EVT_C_STORE, self._on_store),
                (evt.EVT_C_ECHO, self._on_echo), (evt.EVT_RELEASED, self._on_released),
                (evt.EVT_ABORTED, self._on_aborted), (evt.EVT_REJECTED, self._on_rejected),
                (evt.EVT_CONN_CLOSE, self._on_close)]

    def start(self, block: bool = False):
        """Publish what a stopped receiver left behind, then listen (returns the server)."""
        recovered = recover_incoming(self.cfg.drop_dir, BATCH_PREFIX)
        if recovered:
            self.log.write({"event": "recovered", "batches": len(recovered)})
        ae = self.make_ae()
        self.log.write({"event": "start", "ae_title": self.cfg.ae_title, "host": self.cfg.host,
                        "port": self.cfg.port, "pid": os.getpid()})
        self.server = ae.start_server((self.cfg.host, self.cfg.port), block=block,
                                      evt_handlers=self.handlers())
        return self.server

    def stop(self) -> None:
        """Stop listening, end open associations and publish their batches."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        with self._lock:
            left = list(self._assocs.values())
            self._assocs.clear()
        for a in left:
            self._finish(a)
        recover_incoming(self.cfg.drop_dir, BATCH_PREFIX)
        self.log.write({"event": "stop", "pid": os.getpid()})

    # handlers ---------------------------------------------------------------------------
    def _state(self, event, create: bool = True) -> _Assoc | None:
        key = id(event.assoc)
        with self._lock:
            a = self._assocs.get(key)
            if a is None and create:
                req = event.assoc.requestor
                acc = event.assoc.acceptor
                a = _Assoc(calling_ae=_text(req.ae_title), called_ae=_text(acc.ae_title),
                           peer=f"{req.address}:{req.port}")
                self._assocs[key] = a
            return a

    def _on_open(self, event) -> None:
        """Turn Nagle's algorithm off: each C-STORE response is one small segment, and with
        Nagle + delayed ACKs every instance waited ~40 ms (18 instances/s on loopback, measured
        with Orthanc and with pynetdicom as sender; ~130/s without)."""
        import socket

        sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_accepted(self, event) -> None:
        self._state(event)

    def _on_store(self, event) -> int:
        a = self._state(event)
        sop_class = _text(event.request.AffectedSOPClassUID)
        a.sop_classes[_sop_name(sop_class)] += 1
        try:
            ds = event.dataset
            study, series = _text(ds.StudyInstanceUID), _text(ds.SeriesInstanceUID)
            sop = _text(event.request.AffectedSOPInstanceUID)
            if not (study and series and sop):
                raise KeyError("UID")
            data = event.encoded_dataset(include_meta=True)
        except Exception as exc:  # a dataset we cannot read: refuse it, keep the association
            a.errors[type(exc).__name__] += 1
            a.statuses[f"0x{CANNOT_UNDERSTAND:04X}"] += 1
            return CANNOT_UNDERSTAND
        try:
            if a.batch is None:
                a.batch = Batch(self.cfg.drop_dir, new_batch_name(BATCH_PREFIX))
            a.batch.write(data, study, series, sop)
        except OSError as exc:
            a.errors[type(exc).__name__] += 1
            a.statuses[f"0x{OUT_OF_RESOURCES:04X}"] += 1
            return OUT_OF_RESOURCES
        a.statuses[f"0x{SUCCESS:04X}"] += 1
        return SUCCESS

    def _on_echo(self, event) -> int:
        self._state(event).echoes += 1
        return SUCCESS

    def _set_outcome(self, event, outcome: str) -> None:
        a = self._state(event, create=outcome == "rejected")
        if a is not None:  # None: the connection was already closed and logged
            a.outcome = outcome

    def _on_released(self, event) -> None:
        self._set_outcome(event, "released")

    def _on_aborted(self, event) -> None:
        self._set_outcome(event, "aborted")

    def _on_rejected(self, event) -> None:
        self._set_outcome(event, "rejected")

    def _on_close(self, event) -> None:
        with self._lock:
            a = self._assocs.pop(id(event.assoc), None)
        if a is not None:
            self._finish(a)

    def _finish(self, a: _Assoc) -> None:
        """Publish the association's batch and write its log line."""
        published = None
        error = None
        if a.batch is not None:
            try:
                published = a.batch.publish()
            except OSError as exc:  # stays in drop/.incoming; published at the next start
                error = type(exc).__name__
        record = {"event": "association", "calling_ae": a.calling_ae, "called_ae": a.called_ae,
                  "peer": a.peer, "outcome": a.outcome,
                  "instances": a.batch.count if a.batch else 0,
                  "bytes": a.batch.bytes if a.batch else 0,
                  "sop_classes": dict(a.sop_classes), "statuses": dict(a.statuses),
                  "echoes": a.echoes, "errors": dict(a.errors),
                  "batch": published.name if published else None,
                  "seconds": round(time.monotonic() - a.started, 3)}
        if error:
            record["publish_error"] = error
        self.log.write(record)
