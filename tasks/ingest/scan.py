"""Walk the drop folder and sort its files by source kind (DICOM, NIfTI folder, BIDS)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from tasks.ingest.quarantine import QuarantineItem
from tasks.ingest.sources.base import Context, Discovery, Source
from tasks.ingest.sources.bids_dataset import BidsDatasetSource
from tasks.ingest.sources.dicom_export import DicomExportSource
from tasks.ingest.sources.nifti_folder import NiftiFolderSource

CLINICAL_DIR = "clinical"


def _is_nifti(name: str) -> bool:
    return name.endswith((".nii", ".nii.gz"))


LINK_REASON = "symbolic link (not followed)"


def _list_error(path: Path) -> str:
    """Why ``path`` cannot be listed (``strerror``), or ``""`` when it can."""
    try:
        with os.scandir(path) as it:
            next(it, None)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return ""


def _special_kind(mode: int) -> str:
    """``"FIFO"``, ``"socket"``, ``"device"`` for special files, ``""`` otherwise."""
    import stat

    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return ""


class SymlinkSource(Source):
    """Symbolic links under the drop folder: each is quarantined, never followed.

    A link may point anywhere (outside the drop folder, to a secret file, or nowhere), so
    neither its target's content nor a linked folder's files are read or copied.
    """

    kind = "symlink"

    def discover(self, ctx: Context) -> Discovery:
        """One quarantine item per link (ledger row from ``lstat`` and the link text)."""
        from tasks.ingest.deid import keyed_hash

        disc = Discovery()
        for rel in self.files:
            pkey = keyed_hash(ctx.key, "path:" + rel)
            try:
                st = os.lstat(ctx.drop_dir / rel)
                special = _special_kind(st.st_mode)
                target = "" if special or stat.S_ISDIR(st.st_mode) \
                    else os.readlink(ctx.drop_dir / rel)
            except OSError:
                continue  # removed while we looked
            cached = ctx.file_cache.get(pkey)
            if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns and cached[3]:
                disc.unchanged += 1
                continue
            if stat.S_ISDIR(st.st_mode):  # a folder _walk could not list
                why = _list_error(ctx.drop_dir / rel)
                if not why:
                    continue  # listable again: walked normally by this or the next run
                sha = hashlib.sha256(b"unlistable:" + why.encode()).hexdigest()
                disc.quarantine.append(QuarantineItem(
                    reason=f"folder cannot be listed ({why}): {rel}; its files were not read",
                    category="unreadable", files=[rel], hashes=[sha], keys=[pkey]))
                disc.quarantine_rows.append((pkey, st.st_size, st.st_mtime_ns, sha))
                continue
            if special:
                sha = hashlib.sha256(b"special:" + special.encode()).hexdigest()
                disc.quarantine.append(QuarantineItem(
                    reason=f"not a regular file ({special}): {rel}; it was not opened",
                    category="unreadable", files=[rel], hashes=[sha], keys=[pkey]))
                disc.quarantine_rows.append((pkey, st.st_size, st.st_mtime_ns, sha))
                continue
            sha = hashlib.sha256(b"link:" + os.fsencode(target)).hexdigest()
            disc.quarantine.append(QuarantineItem(
                reason=f"{LINK_REASON}: {rel}; copy the real file (or folder) into the drop "
                       "folder instead", category="symlink", files=[rel], hashes=[sha],
                keys=[pkey]))
            disc.quarantine_rows.append((pkey, st.st_size, st.st_mtime_ns, sha))
        return disc


def _walk(top: str, rel: str = "") -> Iterator[tuple[str, list[str], list[str], list[str]]]:
    """Top-down walk like :func:`os.walk` that also reports symbolic links, from ``d_type``.

    Yields ``(rel_dir, dirs, files, links)`` with names sorted and hidden entries left out;
    ``rel_dir`` is ``""`` for the top. Links (to files, folders or nowhere) are reported, never
    followed. As with ``os.walk``, the caller may prune ``dirs`` before the walk descends; a
    subfolder that cannot be listed is reported among its parent's ``links`` (then quarantined
    by :class:`SymlinkSource` with the reason), never passed over in silence.
    """
    dirs: list[str] = []
    files: list[str] = []
    links: list[str] = []
    try:
        with os.scandir(os.path.join(top, rel) if rel else top) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                if entry.is_symlink():
                    links.append(entry.name)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    files.append(entry.name)
                else:  # FIFO, socket, device: never opened (a FIFO would block the run)
                    links.append(entry.name)
    except OSError:  # reported to the parent as a link-like entry: quarantined, not skipped
        if rel:
            parent, _, name = rel.rpartition("/")
            yield parent, [], [], [name]
        return
    dirs.sort()
    files.sort()
    links.sort()
    yield rel, dirs, files, links
    for d in dirs:
        yield from _walk(top, f"{rel}/{d}" if rel else d)


def scan_drop(drop_dir: Path) -> list[Source]:
    """Sources under ``drop_dir``: every existing BIDS dataset, NIfTI files, other files.

    Hidden files and folders, ``clinical/`` and the sidecars of NIfTI files are left out.
    Symbolic links (to files or folders) are not followed: they form a :class:`SymlinkSource`.
    Paths are relative to ``drop_dir`` and sorted, so the plan does not depend on walk order.
    """
    dicom: list[str] = []
    nifti: list[str] = []
    bids: dict[str, list[str]] = {}
    links: list[str] = []
    if not os.path.isdir(drop_dir):
        return []
    for rel_dir, dirnames, filenames, linknames in _walk(os.fspath(drop_dir)):
        prefix = rel_dir + "/" if rel_dir else ""
        links += [prefix + name for name in linknames]
        if not rel_dir:
            dirnames[:] = [d for d in dirnames if d != CLINICAL_DIR]
        bids_root = next((r for r in bids if rel_dir.startswith(r + "/") or rel_dir == r),
                         None)
        if bids_root is None and "dataset_description.json" in filenames:
            bids_root = rel_dir or "."
            bids[bids_root] = []
        if bids_root is not None:
            dirnames[:] = [d for d in dirnames if d not in {"derivatives", "sourcedata", "code"}]
        names = set(filenames)
        for name in filenames:
            rel = prefix + name
            if _is_nifti(name):
                (bids[bids_root] if bids_root is not None else nifti).append(rel)
            elif bids_root is not None:
                continue  # sidecars, TSVs and dataset files of the BIDS source
            elif name.endswith(".json") and (
                    f"{name[:-5]}.nii" in names or f"{name[:-5]}.nii.gz" in names):
                continue  # sidecar of a NIfTI file
            else:
                dicom.append(rel)
    sources: list[Source] = []
    if dicom:
        sources.append(DicomExportSource(dicom))
    if nifti:
        sources.append(NiftiFolderSource(nifti))
    sources += [BidsDatasetSource(files, root) for root, files in sorted(bids.items()) if files]
    if links:
        sources.append(SymlinkSource(sorted(links)))
    return sources
