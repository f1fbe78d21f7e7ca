"""One redaction step: no drop-folder path and no DICOM identifier leaves as it is.

Folder and file names in the drop folder may carry identifiers (``NOVAK^WEI H1512204
19570118/``), and so may any text quoting a header (an exception naming a malformed value, a
SeriesDescription a technologist typed a name into). :func:`redact` is the one step every such
text passes before it reaches a log, Prefect's database, a quarantine record, a run record or
the warehouse:

* every path under the drop folder becomes ``<drop>/<12 hex of SHA-256 of the relative
  path>`` (the same file always gives the same token, so lines can be matched);
* every identifying value registered by ingest as it reads headers and clinical CSVs
  (:func:`register_identifiers`: patient IDs, names, birth and study dates, accession
  numbers, institutions, in the textual forms ``calcisvd audit-phi`` searches) becomes
  ``<id>``; the values are kept in ``secrets/redact_values.txt`` (0600, :func:`use_store`,
  loaded by :func:`calcisvd.logging.setup_logging`) so later processes redact them too, and
  handed to worker processes with each call (:func:`snapshot`, ``tasks/quantify/pool.py``);
* whatever has the shape of a DICOM person name (``FAMILY^GIVEN``) becomes ``<name>`` and
  of a DICOM date (``YYYYMMDD``, years 1800-2099) ``<date>``, registered or not.

:class:`RedactFilter`, installed by :func:`calcisvd.logging.setup_logging` on the console and
file handlers and on Prefect's run loggers (whose records go to Prefect's database), applies it
to the message *and* the formatted exception; :func:`redact_exception` to an exception before
Prefect stores its text as a run's state message (:func:`flows.common.redacted_errors`) or the
command line prints it; :func:`redact_obj` to run records (summaries, artifacts).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Prefect's run loggers (``get_run_logger``): their records are sent to Prefect's API
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def path_token(rel: str) -> str:
    """``<drop>/<hash>`` for a path relative to the drop folder."""
    return "<drop>/" + hashlib.sha256(rel.encode("utf-8", "surrogateescape")).hexdigest()[:12]


#: a DICOM person name: components joined by ``^`` (PN, PS3.5 6.2)
_PN_STOP = r"\s'\"<>/\\|()\[\],;:"
#: The family part holds a letter and what follows ``^`` is not a bare exponent, so units and
#: powers in messages (``37.7 cm^3``, ``mm^2``, ``10^6``, ``s^-1``) stay as they are.
PERSON_NAME = re.compile(
    r"(?<![^" + _PN_STOP + r"=])(?=[^" + _PN_STOP + r"^]*[A-Za-z])[^" + _PN_STOP + r"^]+\^"
    r"(?![-+]?\d+(?:[" + _PN_STOP + r"^]|$))[^" + _PN_STOP + r"]*")
#: a DICOM date (DA, PS3.5 6.2): YYYYMMDD with a valid month and day, years 1800-2099
#: not a stamp of the platform's own (``analysis-20261204-235036``, a Nipype crash file):
#: followed by ``-HHMMSS``
DICOM_DATE = re.compile(r"(?<![0-9A-Za-z])(?:18|19|20)\d\d(?:0[1-9]|1[0-2])"
                        r"(?:0[1-9]|[12]\d|3[01])(?![0-9A-Za-z])(?!-\d{6}(?!\d))")

_LOCK = threading.Lock()
#: roots; registered values by lower-case first word (a dict lookup per word of a text, so
#: that thousands of patients cost no more than a few); values starting with a non-word
_STATE: dict[str, Any] = {"roots": [], "by_word": {}, "odd": set(), "store": None}
_WORD = re.compile(r"[A-Za-z0-9]+")


def set_roots(roots: Iterable[Path]) -> None:
    """The drop folder(s) whose paths :func:`redact` hides when no roots are given."""
    with _LOCK:
        _STATE["roots"] = sorted({Path(r) for r in roots}, key=lambda p: -len(str(p)))


def register_identifiers(attribute: str, values: Iterable[str]) -> None:
    """Remember identifying values read from the input (``attribute`` a DICOM keyword such as
    ``PatientID``/``PatientName``/``PatientBirthDate``): :func:`redact` replaces them, in the
    forms :func:`calcisvd.phi_forms.tokens_for` gives (the forms the audit searches)."""
    from calcisvd.phi_forms import tokens_for

    new = {t.lower() for v in values if v for t in tokens_for(attribute, str(v))}
    added = _add_tokens(new)
    store = _STATE.get("store")
    if added and store is not None:
        _append_store(store, added)


def _add_tokens(tokens: Iterable[str]) -> list[str]:
    """Index lower-case ``tokens``; returns those that were new, sorted."""
    added = []
    with _LOCK:
        for token in tokens:
            first = _WORD.match(token)
            bucket = _STATE["odd"] if first is None else \
                _STATE["by_word"].setdefault(first.group(), set())
            if token not in bucket:
                bucket.add(token)
                added.append(token)
    return sorted(added)


#: the file (under the home's ``secrets/``, mode 0600) keeping the registered values, so that
#: a later process (``calcisvd quantify``, ``load``, a deployment run) redacts them too
STORE_NAME = "redact_values.txt"


def _append_store(path: Path, tokens: list[str]) -> None:
    """Append ``tokens`` (one a line) to ``path``, created 0600; its folder must exist (the
    home's ``secrets/``, made by ``calcisvd init``): without it nothing is kept."""
    import os

    if not path.parent.is_dir():
        return
    data = "".join(t.replace("\n", " ") + "\n" for t in tokens).encode("utf-8", "replace")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)  # one write: lines of concurrent processes do not interleave
    finally:
        os.close(fd)


def use_store(path: Path | None) -> None:
    """Load the values kept in ``path`` (:data:`STORE_NAME` under ``secrets/``) and keep
    values registered from now on there too; ``None`` stops keeping them."""
    if path is None:
        _STATE["store"] = None
        return
    path = Path(path)
    try:
        tokens = [t for t in path.read_text("utf-8", "replace").splitlines() if t.strip()]
    except OSError:
        tokens = []
    _add_tokens(tokens)
    _STATE["store"] = path


def forget_identifiers() -> None:
    """Drop every registered value (tests; a long-lived process between homes)."""
    with _LOCK:
        _STATE["by_word"], _STATE["odd"], _STATE["store"] = {}, set(), None


def _replace_values(text: str) -> str:
    """Registered values, as whole tokens (no letter or digit on either side), by ``<id>``."""
    by_word, odd = _STATE["by_word"], _STATE["odd"]
    if not by_word and not odd:
        return text
    low = text.lower()
    spans: list[tuple[int, int]] = []
    for m in _WORD.finditer(low):
        for token in sorted(by_word.get(m.group(), ()), key=len, reverse=True):
            end = m.start() + len(token)
            if low.startswith(token, m.start()) and not low[end:end + 1].isalnum():
                spans.append((m.start(), end))
                break
    for token in odd:
        start = low.find(token)
        while start >= 0:
            spans.append((start, start + len(token)))
            start = low.find(token, start + 1)
    out, pos = [], 0
    for start, end in sorted(spans):
        if start >= pos:
            out += [text[pos:start], "<id>"]
            pos = end
    return "".join(out) + text[pos:]


def scrub_identifiers(text: str) -> str:
    """``text`` with registered values, person names and DICOM dates replaced."""
    text = _replace_values(text)
    text = PERSON_NAME.sub("<name>", text)
    return DICOM_DATE.sub("<date>", text)


def redact(text: str, roots: list[Path] | None = None) -> str:
    """``text`` with every path under one of ``roots`` (default: those of
    :func:`set_roots`) replaced by :func:`path_token`, then :func:`scrub_identifiers`.

    A quoted path is taken to its closing quote; an unquoted one to the next white space,
    extended word by word while the longer path exists (folder names with spaces)."""
    import os

    text = str(text)
    for root in (_STATE["roots"] if roots is None else roots):
        base = re.escape(str(root).rstrip("/"))
        quoted = re.compile(r"(['\"])" + base + r"(?:/([^'\"]*))?\1")
        text = quoted.sub(lambda m: m.group(1) + path_token(m.group(2) or "") + m.group(1),
                          text)
        bare = re.compile(base + r"(?:/([^\s'\"\]\)\(,;]*))?")
        out, pos = [], 0
        for m in bare.finditer(text):
            if m.start() < pos:
                continue
            end, rel = m.end(), m.group(1) or ""
            while True:  # "NOVAK^WEI H1512204/IM1": extend while the path exists
                nxt = re.match(r" ([^\s'\"\]\)\(,;]+)", text[end:])
                if not nxt or not _is_prefix(os.path.join(str(root), f"{rel} {nxt.group(1)}")):
                    break
                rel, end = f"{rel} {nxt.group(1)}", end + nxt.end()
            out += [text[pos:m.start()], path_token(rel)]
            pos = end
        text = "".join(out) + text[pos:]
    return scrub_identifiers(text)


def redact_files(paths: Iterable[Path]) -> int:
    """Rewrite text files (Nipype's crash reports) through :func:`redact`, each atomically
    (temporary file, then rename); returns how many changed. A file that vanished or cannot
    be read is skipped; one that cannot be rewritten is removed, so no raw text stays behind.
    Redacting twice changes nothing."""
    import os

    changed = 0
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        clean = redact(text)
        if clean == text:
            continue
        tmp = Path(path).with_name(f".{Path(path).name}.redact-{os.getpid()}")
        try:
            tmp.write_text(clean, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            Path(path).unlink(missing_ok=True)
        changed += 1
    return changed


def remove_identifying_pickles(paths: Iterable[Path]) -> int:
    """Delete gzip pickles (Nipype's ``result_*.pklz``, ``_node.pklz``, ``_inputs.pklz``)
    whose text holds something :func:`redact` would replace: a pickle cannot be rewritten as
    text, and these are caches (Nipype re-runs a node without them). Returns how many."""
    import gzip

    removed = 0
    for path in paths:
        try:
            text = gzip.decompress(Path(path).read_bytes()).decode("latin-1")
        except (OSError, EOFError):
            continue
        if redact(text) != text:
            Path(path).unlink(missing_ok=True)
            removed += 1
    return removed


def redact_obj(obj: Any) -> Any:
    """:func:`redact` applied to every string (keys included) of a JSON-like object."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


class RedactedError(RuntimeError):
    """Stands in for an exception whose text could not be redacted in place."""


def redact_exception(exc: BaseException) -> BaseException:
    """``exc`` with its text (and that of its causes) through :func:`redact`: the arguments
    are rewritten in place (type, traceback and ``errno`` kept); an exception whose text still
    differs after that is replaced by a :class:`RedactedError` naming its type."""
    seen: set[int] = set()

    def fix(e: BaseException | None) -> BaseException | None:
        if e is None or id(e) in seen:
            return e
        seen.add(id(e))
        e.__cause__, e.__context__ = fix(e.__cause__), fix(e.__context__)
        try:
            text = str(e)
        except Exception:
            return RedactedError(type(e).__name__)
        clean = redact(text)
        if clean == text:
            return e
        try:
            if isinstance(e, OSError):
                for attr in ("filename", "filename2"):
                    if isinstance(getattr(e, attr, None), str):
                        setattr(e, attr, redact(getattr(e, attr)))
                if isinstance(e.strerror, str):
                    e.strerror = redact(e.strerror)
            else:
                e.args = tuple(redact(a) if isinstance(a, str) else
                               redact(repr(a)) if a is not None and not
                               isinstance(a, int | float) else a for a in e.args)
            if redact(str(e)) == str(e):
                return e
        except Exception:  # read-only attributes: replace the exception
            pass
        new = RedactedError(f"{type(e).__name__}: {clean}")
        new.__cause__ = None
        return new.with_traceback(e.__traceback__)

    return fix(exc) or exc


def _is_prefix(path: str) -> bool:
    """True when ``path`` exists or its folder holds a name starting with its last part."""
    import os

    path = path.rstrip(":.") or path  # "…/IM0001: bad header"
    if os.path.lexists(path):
        return True
    folder, name = os.path.split(path)
    try:
        return any(n.startswith(name) for n in os.listdir(folder))
    except OSError:
        return False


class RedactFilter(logging.Filter):
    """Rewrites a record's message (and exception text) through :func:`redact`."""

    def __init__(self, roots: list[Path]) -> None:
        super().__init__()
        self.roots = [Path(r) for r in roots]

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record, redacted."""
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: keep the template only
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        elif record.exc_text:
            text += "\n" + record.exc_text
        record.exc_text = None
        record.msg, record.args = redact(text, self.roots), ()
        return True


def install(roots: list[Path], handlers: list[logging.Handler]) -> None:
    """Add one :class:`RedactFilter` to ``handlers`` and to Prefect's run loggers (once);
    ``roots`` become :func:`redact`'s default roots."""
    set_roots(roots)
    filt = RedactFilter(roots)
    for target in [*handlers, *(logging.getLogger(n) for n in PREFECT_RUN_LOGGERS)]:
        target.filters = [f for f in target.filters if not isinstance(f, RedactFilter)]
        target.addFilter(filt)


def snapshot() -> dict[str, Any]:
    """The redaction state of this process (roots and registered values), picklable: a worker
    process given it (:func:`restore`) redacts by value as this one does. Worker processes
    (``forkserver``/``spawn``) start without the values ingest registered in their parent."""
    with _LOCK:
        return {"roots": list(_STATE["roots"]),
                "by_word": {k: set(v) for k, v in _STATE["by_word"].items()},
                "odd": set(_STATE["odd"])}


def restore(state: dict[str, Any]) -> None:
    """Adopt a :func:`snapshot` (in a worker process, before its work)."""
    with _LOCK:
        _STATE["roots"] = list(state["roots"])
        _STATE["by_word"] = {k: set(v) for k, v in state["by_word"].items()}
        _STATE["odd"] = set(state["odd"])


def install_everywhere() -> None:
    """In a worker process: a :class:`RedactFilter` on every handler this process has or
    gets by default (root, Nipype's loggers, Python's last-resort handler), so whatever a
    library logs there (Nipype's crash report quoting an exception) is redacted too. A
    process without a root handler gets a stderr one (WARNING), filtered."""
    roots = list(_STATE["roots"])
    filt = RedactFilter(roots)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
    names = ["", *PREFECT_RUN_LOGGERS, "nipype", "nipype.workflow", "nipype.interface",
             "nipype.utils", "nipype.filemanip"]
    handlers = [h for n in names for h in logging.getLogger(n).handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for target in handlers:
        target.filters = [f for f in target.filters if not isinstance(f, RedactFilter)]
        target.addFilter(filt)
    _redact_at_creation()


def _redact_at_creation() -> None:
    """Every log record this process creates is redacted when it is made (a record factory),
    so handlers added later -- Nipype re-creates its handlers when its logging config is
    updated inside a session's work -- cannot print an unredacted record. Installed once."""
    old = logging.getLogRecordFactory()
    if getattr(old, "calcisvd_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        RedactFilter(list(_STATE["roots"])).filter(record)
        return record

    factory.calcisvd_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def call_redacted(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an exception leaves with its text redacted (type and errno
    kept, :func:`redact_exception`)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        clean = redact_exception(exc)
        if clean is exc:
            raise
        raise clean from None
