"""Reading many DICOM headers: one file at a time, or in worker processes for large drops.

:func:`read_many` applies :func:`tasks.ingest.dicom.read_instance` to a list of files and
returns, in input order, an instance, the reason a file is unreadable, or an OS error's name.
"""

from __future__ import annotations

from pathlib import Path

from tasks.ingest.dicom import MAX_FILE_BYTES, DicomInstance, UnreadableFile, read_instance


def read_one(args: tuple[str, str], max_bytes: int = MAX_FILE_BYTES
              ) -> DicomInstance | UnreadableFile | str:
    """Worker: an instance, the reason it is unreadable, or an OS error's name."""
    path, rel = args
    try:
        return read_instance(Path(path), rel, max_bytes=max_bytes)
    except UnreadableFile as exc:
        return exc
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    except Exception as exc:  # a header no reader rule foresaw: that file alone is refused
        return UnreadableFile(f"header cannot be parsed ({type(exc).__name__})")


#: below this many new files, headers are read in the calling process (no worker start-up)
PARALLEL_READ_MIN_FILES = 1000


def _read_chunk(drop_dir: str, rels: list[str], max_bytes: int = MAX_FILE_BYTES
                ) -> list[DicomInstance | UnreadableFile | str]:
    return [read_one((str(Path(drop_dir) / rel), rel), max_bytes) for rel in rels]


def read_many(drop_dir: Path, rels: list[str], workers: int = 1,
              max_bytes: int = MAX_FILE_BYTES) -> list[DicomInstance | UnreadableFile | str]:
    """:func:`read_instance` over many files, in input order.

    With ``workers > 1`` and at least ``PARALLEL_READ_MIN_FILES`` files, chunks of files are
    read by that many processes (fork server or spawn, never fork: the caller has threads);
    below that, worker start-up costs more than it saves.
    """
    if workers <= 1 or len(rels) < PARALLEL_READ_MIN_FILES:
        return _read_chunk(str(drop_dir), rels, max_bytes)
    from calcisvd.processes import chunked, map_in_processes

    chunks = chunked(rels, 8 * workers, min_size=50)
    parts = map_in_processes(_read_chunk, [str(drop_dir)] * len(chunks), chunks,
                             [max_bytes] * len(chunks), workers=workers)
    return [inst for part in parts for inst in part]
