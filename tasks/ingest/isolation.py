"""One bad input never stops the others: per-input fault isolation for an ingest run.

A source's discovery that raises is retried on smaller groups of its files (by folder, one
level deeper each time) until the failing folder is found; that folder's files become one
quarantine item with the reason, every other folder proceeds. A session whose conversion
raises is quarantined (see ``IngestRun.ingest_session``). Resource errors (disk full, a
read-only file system, no permission to write an *output*) are not the input's fault: they
stop the run with one sentence (:class:`calcisvd.resources.ResourceError`).

Reasons never carry an exception's free text (it may quote file contents or paths): only
the exception type, and for OS errors the system's description (``strerror``).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import logging
import os
from collections import defaultdict
from pathlib import Path, PurePosixPath

from calcisvd.resources import ResourceError, resource_code
from tasks.ingest.quarantine import QuarantineItem
from tasks.ingest.sources.base import Context, Discovery, Source

log = logging.getLogger("calcisvd.ingest")

#: errors of the machine, not of one input: the run stops and says what is needed
RUN_WIDE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: exception types whose message is a fixed phrase without data (safe to quote)
_SAFE_MESSAGE = (OverflowError, ZeroDivisionError, RecursionError)


def failure_reason(exc: BaseException) -> str:
    """A PHI-free description of ``exc``: its type, plus ``strerror`` or a fixed message."""
    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    if isinstance(exc, _SAFE_MESSAGE):
        return f"{name}: {str(exc)[:120]}"
    return name


def raise_if_resource(exc: BaseException, where: Path | str,
                      input_dir: Path | str | None = None) -> None:
    """Raise :class:`ResourceError` when ``exc`` comes from the machine (disk full, read-only
    file system; no permission on a path outside ``input_dir``); otherwise return."""
    if isinstance(exc, ResourceError):
        raise exc
    code = resource_code(exc)
    if code is None:
        return
    filename = getattr(exc, "filename", None)
    if code in (errno.EACCES, errno.EPERM):
        if not filename or (input_dir and os.fspath(filename).startswith(
                os.fspath(input_dir) + os.sep)):
            return  # an unreadable input is that input's problem
    elif code not in RUN_WIDE:
        return
    raise ResourceError(filename or where, code) from None


def _folder_item(ctx: Context, files: list[str], why: str) -> tuple[QuarantineItem, list]:
    """A quarantine item (and ledger rows) for ``files`` that failed together."""
    from tasks.ingest.deid import keyed_hash

    hashes, keys, rows = [], [], []
    for rel in files:
        pkey = keyed_hash(ctx.key, "path:" + rel)
        keys.append(pkey)
        try:
            st = os.lstat(ctx.drop_dir / rel)
            h = hashlib.sha256()
            with open(ctx.drop_dir / rel, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            continue  # unreadable: named in the item, not hashed
        hashes.append(h.hexdigest())
        rows.append((pkey, st.st_size, st.st_mtime_ns, hashes[-1]))
    item = QuarantineItem(reason=f"input could not be read or planned ({why}): "
                                 f"{len(files)} file(s) of one folder (`calcisvd quarantine "
                                 "show` names them)",
                          category="unreadable", files=sorted(files), hashes=hashes, keys=keys)
    return item, rows


def _subset(source: Source, files: list[str]) -> Source:
    part = copy.copy(source)
    part.files = files
    return part


def _groups(files: list[str], depth: int) -> dict[tuple[str, ...], list[str]]:
    out: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for rel in files:
        out[PurePosixPath(rel).parent.parts[:depth]].append(rel)
    return out


def discover_isolated(source: Source, ctx: Context) -> Discovery:
    """``source.discover(ctx)``; when it raises, the failing folder is found and quarantined
    while the files of every other folder are discovered as usual."""
    try:
        return source.discover(ctx)
    except Exception as exc:
        raise_if_resource(exc, ctx.drop_dir, input_dir=ctx.drop_dir)
        log.warning("a %s input failed (%s); isolating the failing folder", source.kind,
                    failure_reason(exc))
        return _bisect(source, ctx, list(source.files), 1, failure_reason(exc))


def _bisect(source: Source, ctx: Context, files: list[str], depth: int, why: str) -> Discovery:
    disc = Discovery()
    deepest = max(len(PurePosixPath(f).parent.parts) for f in files)
    groups = _groups(files, depth)
    while len(groups) == 1 and depth < deepest:
        depth += 1
        groups = _groups(files, depth)
    if len(groups) == 1:  # one folder: quarantine it whole
        item, rows = _folder_item(ctx, files, why)
        disc.quarantine.append(item)
        disc.quarantine_rows += rows
        return disc
    for _, group in sorted(groups.items()):
        try:
            disc.extend(_subset(source, group).discover(ctx))
        except Exception as exc:
            raise_if_resource(exc, ctx.drop_dir, input_dir=ctx.drop_dir)
            disc.extend(_bisect(source, ctx, group, depth + 1, failure_reason(exc)))
    return disc
