"""One redaction step for log records: drop-folder paths never reach a log as they are.

Folder and file names in the drop folder may carry identifiers (``NOVAK^WEI H1512204
19570118/``). :class:`RedactFilter`, installed by :func:`calcisvd.logging.setup_logging` on the
console and file handlers and on Prefect's run loggers (whose records go to Prefect's
database), replaces every path under the drop folder in the message *and* in the formatted
exception by ``<drop>/<12 hex of SHA-256 of the relative path>``: the same file always gives
the same token (so log lines can be matched), the name is not readable.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from pathlib import Path

#: Prefect's run loggers (``get_run_logger``): their records are sent to Prefect's API
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def path_token(rel: str) -> str:
    """``<drop>/<hash>`` for a path relative to the drop folder."""
    return "<drop>/" + hashlib.sha256(rel.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def redact(text: str, roots: list[Path]) -> str:
    """``text`` with every path under one of ``roots`` replaced by :func:`path_token`.

    A quoted path is taken to its closing quote; an unquoted one to the next white space,
    extended word by word while the longer path exists (folder names with spaces)."""
    import os

    for root in roots:
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
    return text


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
    """Add one :class:`RedactFilter` to ``handlers`` and to Prefect's run loggers (once)."""
    filt = RedactFilter(roots)
    for target in [*handlers, *(logging.getLogger(n) for n in PREFECT_RUN_LOGGERS)]:
        target.filters = [f for f in target.filters if not isinstance(f, RedactFilter)]
        target.addFilter(filt)
