"""Resource errors (disk full, read-only file system, no permission) as one plain sentence.

A run that cannot write because the machine lacks something is not a bug in the input: it
stops with one sentence naming the path and what is needed (``ResourceError``), and the CLI
prints that sentence instead of a traceback (exit code :data:`EXIT_RESOURCE`). Every write is
atomic (``fsutil.write_bytes_atomic``, staging folders, DuckDB transactions), so a rerun after
the cause is gone converges to the result of an uninterrupted run.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Final

#: exit code of a command stopped by a resource error
EXIT_RESOURCE: Final[int] = 5

#: errno -> what is needed, phrased to follow "needs"
_NEEDS: Final[dict[int, str]] = {
    errno.ENOSPC: "more free disk space",
    errno.EDQUOT: "more disk quota",
    errno.EROFS: "a writable file system (it is mounted read-only)",
    errno.EACCES: "read and write permission for the user running calcisvd",
    errno.EPERM: "read and write permission for the user running calcisvd",
    errno.ENOMEM: "more free memory",
}
#: message fragments of SQLite / DuckDB errors that carry no errno
_TEXT_NEEDS: Final[tuple[tuple[str, int], ...]] = (
    ("database or disk is full", errno.ENOSPC),
    ("no space left on device", errno.ENOSPC),
    ("disk quota exceeded", errno.EDQUOT),
    ("readonly database", errno.EROFS),
    ("read-only file system", errno.EROFS),
    ("permission denied", errno.EACCES),
)


class ResourceError(RuntimeError):
    """The run lacks disk space, write access or permission on ``path``."""

    def __init__(self, path: Path | str | None, code: int):
        self.path = str(path) if path else "the calcisvd home"
        self.errno = code
        self.need = _NEEDS.get(code, "a working file system")
        super().__init__(f"{self.path} needs {self.need}; fix that and run the command "
                         "again (completed work is kept)")


def resource_code(exc: BaseException) -> int | None:
    """The errno of a resource problem behind ``exc`` (its causes included), else ``None``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ResourceError):
            return cur.errno
        code = getattr(cur, "errno", None)
        if isinstance(cur, OSError) and code in _NEEDS:
            return code
        text = str(cur).lower()
        for fragment, frag_code in _TEXT_NEEDS:
            if fragment in text:
                return frag_code
        cur = cur.__cause__ or cur.__context__
    return None


def as_resource_error(exc: BaseException, path: Path | str | None = None) -> ResourceError | None:
    """``exc`` as a :class:`ResourceError` (naming ``path`` or the file in the error)."""
    if isinstance(exc, ResourceError):
        return exc
    code = resource_code(exc)
    if code is None:
        return None
    where = getattr(exc, "filename", None) or path
    return ResourceError(os.fspath(where) if where else None, code)


def check_writable(path: Path) -> None:
    """Raise :class:`ResourceError` when the folder ``path`` (created if missing) is not
    writable or its file system is read-only (checked with a probe file)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".calcisvd-probe-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"x")
        probe.unlink()
    except OSError as exc:
        err = as_resource_error(exc, path)
        if err is None:
            raise
        err.path = str(path)
        raise ResourceError(path, err.errno) from None
