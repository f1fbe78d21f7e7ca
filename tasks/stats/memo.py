"""Results of the statistics builders kept between runs, keyed by everything they read.

A rerun after one new follow-up session changes the one-year change and the session frames;
the baseline cohort, and so Tables 1-3, the adjusted models and the per-artery table, are
exactly those of the last run. :class:`TableCache` returns the stored result of a builder
(``tasks.stats.tables``: pure functions of their arguments, resampling seeded by the options)
when it is called again with the same arguments, and computes and stores it otherwise.

The figures of the report (``tasks.report.figures``: PNG files) are kept the same way
(:meth:`TableCache.file`): the stored bytes are written when the same figure of the same
data is asked for again.

The key is a SHA-256 over the builder's module and name, the code (every file of
``tasks/stats`` and ``tasks/report``: builders, SQL, published tables, figures, templates),
the versions of the libraries (numpy, pandas, scipy, statsmodels, matplotlib, Python) and
every argument: a DataFrame enters with its
column names, each column's dtype (``repr``, so categories and their order too), its values
and the index (pickled arrays); other arguments by ``repr`` (the frozen ``Options``
dataclass names every field). Any changed value, row, column, dtype, option or source file
gives another key, so the builder runs again; a key that cannot be made, an unreadable or
unwritable entry: the builder runs. Equal inputs that pickle differently only cost a miss.

Entries are pickle (results) and ``.file`` (figure bytes) files under the cache folder
(``<var>/cache/analysis`` by default, written by this user only); the oldest beyond
``MAX_ENTRIES`` are removed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

#: entries kept (a run of the default analysis stores about a dozen)
MAX_ENTRIES = 200
_TASKS_DIR = Path(__file__).resolve().parent.parent
#: the code a cached result depends on: the statistics and the report (figures)
_CODE_DIRS = ("stats", "report")
_CODE_SUFFIXES = (".py", ".sql", ".yaml", ".yml", ".json", ".j2")
_LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib")


@cache
def code_version() -> str:
    """SHA-256 (16 hex) of the statistics and report code and the libraries' versions."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256(sys.version.encode())
    for lib in _LIBRARIES:
        try:
            h.update(f"\n{lib}={version(lib)}".encode())
        except PackageNotFoundError:
            h.update(f"\n{lib}=absent".encode())
    for folder in _CODE_DIRS:
        for path in sorted((_TASKS_DIR / folder).rglob("*")):
            if path.suffix in _CODE_SUFFIXES and path.is_file() \
                    and "__pycache__" not in path.parts:
                h.update(path.relative_to(_TASKS_DIR).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _digest(value: Any, h: Any) -> None:
    """Feed ``value`` into hash ``h`` (raises TypeError for what it cannot key exactly)."""
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        h.update(b"DataFrame")
        h.update(pickle.dumps([repr(c) for c in value.columns], protocol=5))
        h.update(repr(value.index.dtype).encode() + repr(value.index.names).encode())
        h.update(pickle.dumps(value.index.to_numpy(), protocol=5))
        for name in value.columns:
            col = value[name]
            h.update(f"\n{name!r}:{col.dtype!r}\n".encode())
            h.update(pickle.dumps(col.to_numpy(), protocol=5))
    elif isinstance(value, pd.Series):
        _digest(value.to_frame(name="__series__"), h)
    elif value is None or isinstance(value, bool | int | float | str | bytes):
        h.update(f"{type(value).__name__}:{value!r}".encode())
    elif isinstance(value, tuple | list):
        h.update(f"{type(value).__name__}[{len(value)}]".encode())
        for v in value:
            _digest(v, h)
    elif hasattr(value, "__dataclass_fields__") and value.__dataclass_params__.frozen:
        h.update(f"{type(value).__module__}.{type(value).__qualname__}:{value!r}".encode())
    else:
        raise TypeError(f"no exact key for a {type(value).__name__}")
    h.update(b"\x00")


def call_key(fn: Callable, args: tuple, kwargs: dict[str, Any]) -> str | None:
    """The entry key of ``fn(*args, **kwargs)``; None when an argument cannot be keyed."""
    h = hashlib.sha256(f"{fn.__module__}.{fn.__qualname__}\n{code_version()}\n".encode())
    try:
        _digest(tuple(args), h)
        for k in sorted(kwargs):
            h.update(k.encode())
            _digest(kwargs[k], h)
    except (TypeError, ValueError, pickle.PicklingError):
        return None
    return h.hexdigest()


class TableCache:
    """``cache.call(fn, *args, **kwargs)``: ``fn``'s stored result for these arguments, or
    ``fn(*args, **kwargs)`` computed and stored (always computed when not ``read``). ``hits``
    and ``misses`` name the builders."""

    def __init__(self, directory: Path, read: bool = True) -> None:
        self.directory = Path(directory)
        self.read = read  # False: every result computed afresh (and stored)
        self.hits: list[str] = []
        self.misses: list[str] = []

    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """The result of ``fn(*args, **kwargs)``, from the cache when the key is there."""
        key = call_key(fn, args, kwargs)
        path = self.directory / f"{key}.pkl" if key else None
        if path is not None and self.read:
            try:
                with path.open("rb") as f:
                    result = pickle.load(f)
                os.utime(path)  # recently used: kept by the pruning
                self.hits.append(fn.__name__)
                return result
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
                    IndexError, TypeError, ValueError):
                pass
        result = fn(*args, **kwargs)
        self.misses.append(fn.__name__)
        if path is not None:
            self._store(path, result)
        return result

    def file(self, fn: Callable, path: Path, *args: Any) -> Path:
        """``fn(*args, path)`` (a function writing the file ``path``): the stored bytes of an
        earlier call with the same ``args`` written to ``path``, or the file made and its bytes
        stored. Returns ``path``."""
        path = Path(path)
        key = call_key(fn, args, {"__file__": path.suffix})
        entry = self.directory / f"{key}.file" if key else None
        if entry is not None and self.read:
            try:
                data = entry.read_bytes()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                os.utime(entry)
                self.hits.append(fn.__name__)
                return path
            except OSError:
                pass
        fn(*args, path)
        self.misses.append(fn.__name__)
        if entry is not None:
            with suppress(OSError):  # a cache: the file stands without it
                self._store_bytes(entry, path.read_bytes())
        return path

    def _store(self, path: Path, result: Any) -> None:
        with suppress(pickle.PicklingError, TypeError, AttributeError):  # the result stands
            self._store_bytes(path, pickle.dumps(result, protocol=5))

    def _store_bytes(self, path: Path, data: bytes) -> None:
        from calcisvd.io import atomic_write_bytes

        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_bytes(path, data)
            self._prune()
        except OSError:
            pass  # a cache: the result stands without it

    def _prune(self) -> None:
        entries = sorted([*self.directory.glob("*.pkl"), *self.directory.glob("*.file")],
                         key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:max(0, len(entries) - MAX_ENTRIES)]:
            old.unlink(missing_ok=True)


def call(cache: TableCache | None, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` through ``cache`` when there is one."""
    if cache is None:
        return fn(*args, **kwargs)
    return cache.call(fn, *args, **kwargs)
