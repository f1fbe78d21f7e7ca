"""A hospital DICOM export (nested folders of files, any names) as a source."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter, defaultdict
from pathlib import Path

from calcisvd.io import sha256_file
from tasks.ingest.classify import NO_PIXELS, classify_series
from tasks.ingest.deid import keyed_hash, parse_dicom_date, placeholder_id
from tasks.ingest.dicom import (
    DicomInstance,
    RefusedUnread,
    UnreadableFile,
    read_instance,
)
from tasks.ingest.dicomread import read_many
from tasks.ingest.quarantine import QuarantineItem
from tasks.ingest.sources.base import (
    Context,
    Discovery,
    FileRow,
    SeriesInput,
    Source,
    Study,
    settled,
    stat_row,
    unreadable_item,
)
from tasks.ingest.sources.series_checks import (
    geometry_problem,
    incomplete_problem,
    no_pixel_problem,
)


def _folder(rel: str) -> str:
    """The folder part of a drop-relative POSIX path."""
    return rel.rpartition("/")[0]


def _has_dicom_preamble(path) -> bool:
    """True when the file starts like DICOM (``DICM`` at byte 128): damaged, not foreign."""
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _register_identifiers(results: list) -> None:
    """Every identifying value of the headers read goes to the one redaction step
    (calcisvd/redact.py) before any text about these files can leave ingest."""
    from calcisvd.redact import register_identifiers

    insts = [i for i in results if isinstance(i, DicomInstance)]
    register_identifiers("PatientID", {i.patient_id for i in insts})
    register_identifiers("StudyDate", {i.study_date for i in insts})
    for inst in insts:
        for attribute, value in inst.extra.get("identifiers", {}).items():
            register_identifiers(attribute, [value])


def _item(s: SeriesInput, files: list[str], reason: str, category: str) -> QuarantineItem:
    """Quarantine item for series ``s`` naming ``files`` (all its files, duplicates included)."""
    item = s.quarantine_item(reason, category)
    item.files = sorted(files)
    return item


class DicomExportSource(Source):
    """DICOM files anywhere under the drop folder (file names carry no meaning)."""

    kind = "dicom"

    def discover(self, ctx: Context) -> Discovery:
        """Read new files, skip known instances by SOPInstanceUID + hash, group and classify."""
        disc = Discovery()
        fresh: list[tuple[DicomInstance, FileRow, str]] = []
        self.damaged: Counter = Counter()
        self.damaged_in_dir: Counter = Counter()  # damaged DICOM whose series is unknown
        todo: list[tuple[str, str, int, int]] = []
        held: list[tuple[str, str, int, int]] = []  # unchanged files still in quarantine
        ingested: list[tuple[str, str, int, int]] = []  # unchanged files already ingested
        for rel in self.files:
            pkey = keyed_hash(ctx.key, "path:" + rel)
            try:
                size, mtime, cached = stat_row(ctx, rel, pkey)
            except OSError as exc:
                disc.quarantine.append(unreadable_item(rel, pkey, exc))
                continue
            if cached == "quarantined" and ctx.quarantined_keys is not None and \
                    pkey not in ctx.quarantined_keys:
                todo.append((rel, pkey, size, mtime))  # its quarantine folder is gone: retry
            elif cached:
                disc.unchanged += 1
                if cached == "ingested":
                    ingested.append((rel, pkey, size, mtime))
                if cached == "quarantined":
                    held.append((rel, pkey, size, mtime))
                    disc.held += 1
            else:
                todo.append((rel, pkey, size, mtime))
        results = read_many(ctx.drop_dir, [t[0] for t in todo], ctx.workers,
                            ctx.max_file_bytes)
        _register_identifiers(results)
        todo, results = self._with_held_series(ctx, todo, results, held, disc)
        self.wait_series: set[str] = set()  # series with a file changed in the quiet period
        self.wait_dirs: set[str] = set()  # folders with such a file of unknown series
        loose = 0  # unsettled files that cannot be read yet (partly written)
        for (rel, pkey, size, mtime), inst in zip(todo, results, strict=True):
            if ctx.quiet_s > 0 and not settled(ctx, rel):
                uid = getattr(inst, "series_uid", "")
                (self.wait_series.add(uid) if uid else self.wait_dirs.add(_folder(rel)))
                if not isinstance(inst, DicomInstance):
                    loose += 1  # not read now, not recorded: the next run reads it again
                    continue
            if isinstance(inst, UnreadableFile):
                try:  # a file refused unread is hashed by its size and first 64 KiB only
                    sha = (_refused_hash(ctx.drop_dir / rel, size)
                           if isinstance(inst, RefusedUnread) else
                           sha256_file(ctx.drop_dir / rel))
                except OSError as exc:
                    disc.quarantine.append(unreadable_item(rel, pkey, exc))
                    continue
                if inst.series_uid:
                    self.damaged[inst.series_uid] += 1
                elif _has_dicom_preamble(ctx.drop_dir / rel):
                    self.damaged_in_dir[_folder(rel)] += 1
                row = (pkey, size, mtime, sha)
                disc.quarantine.append(QuarantineItem(reason=str(inst), category="unreadable",
                                                      files=[rel], hashes=[sha], keys=[pkey]))
                disc.quarantine_rows.append(row)
                continue
            if isinstance(inst, str):
                disc.quarantine.append(QuarantineItem(
                    reason=f"file cannot be read ({inst})", category="unreadable",
                    files=[rel], hashes=[], keys=[pkey]))
                continue
            row = (pkey, size, mtime, inst.sha256)
            ikey = keyed_hash(ctx.key, "sop:" + inst.sop_uid)
            prev = ctx.instances.get(ikey)
            if prev is not None and prev[2] == "quarantined":
                prev = None  # a quarantined image sent again (fixed or not): judge it anew
            if prev is not None:
                if prev[0] == inst.sha256:
                    disc.duplicates += 1
                    disc.unchanged_rows.append((row, prev[2]))
                else:
                    disc.quarantine.append(QuarantineItem(
                        reason="duplicate image with different content: an image with the same "
                               "SOPInstanceUID was already processed with other pixel/header "
                               "data", category="duplicate", files=[rel],
                        hashes=[inst.sha256], keys=[pkey]))
                    disc.quarantine_rows.append(row)
                continue
            if ctx.placeholder_ids == "study" and placeholder_id(inst.patient_id) and \
                    inst.study_uid:  # configured rule: the study is the identity
                inst = dataclasses.replace(inst, patient_id="study:" + inst.study_uid)
            fresh.append((inst, row, ikey))
        fresh += self._grown_series(ctx, fresh, ingested, disc)
        if loose:
            disc.waiting.append({"description": "", "files": loose, "reason": (
                f"file(s) still being written: changed less than {ctx.quiet_s:g} s ago and "
                "not readable yet")})
        self._group(ctx, fresh, disc)
        return disc

    @staticmethod
    def _with_held_series(ctx: Context, todo: list, results: list, held: list,
                          disc: Discovery) -> tuple[list, list]:
        """Add the unchanged quarantined files of every quarantined series that got new or
        changed files, so that such a series is re-evaluated whole (a fixed re-send)."""
        if not held:
            return todo, results
        resent = {inst.series_uid for inst in results if isinstance(inst, DicomInstance)
                  and (ctx.series.get(keyed_hash(ctx.key, "series:" + inst.series_uid))
                       or ("", "", "", ""))[3] == "quarantined"}
        if not resent:
            return todo, results
        extra = read_many(ctx.drop_dir, [t[0] for t in held], ctx.workers, ctx.max_file_bytes)
        todo, results = list(todo), list(results)
        for entry, inst in zip(held, extra, strict=True):
            if isinstance(inst, DicomInstance) and inst.series_uid in resent:
                todo.append(entry)
                results.append(inst)
                disc.unchanged -= 1
                disc.held -= 1
        return todo, results

    def _grown_series(self, ctx: Context, fresh: list, ingested: list,
                      disc: Discovery) -> list[tuple[DicomInstance, FileRow, str]]:
        """The earlier images of every series that was ingested and got new images.

        Their headers are read again (files already ingested, in the folders of the new
        images) so that the series is judged and converted whole; ``self.grown`` holds the
        series UIDs and how many of their earlier images the ledger knows.
        """
        self.grown: dict[str, int] = {}
        for inst, _row, _ikey in fresh:
            prev = ctx.series.get(keyed_hash(ctx.key, "series:" + inst.series_uid))
            if inst.series_uid and prev is not None and prev[3] == "ingested":
                self.grown[inst.series_uid] = 0
        if not self.grown or not ingested:
            return []
        keys = {keyed_hash(ctx.key, "series:" + uid): uid for uid in self.grown}
        for _sha, series_key, outcome in ctx.instances.values():
            if outcome == "ingested" and series_key in keys:
                self.grown[keys[series_key]] += 1
        folders = {_folder(inst.rel) for inst, _r, _k in fresh if inst.series_uid in self.grown}
        todo = [t for t in ingested if _folder(t[0]) in folders]
        out = []
        for (_rel, pkey, size, mtime), inst in zip(
                todo, read_many(ctx.drop_dir, [t[0] for t in todo], ctx.workers,
                                ctx.max_file_bytes), strict=True):
            if isinstance(inst, DicomInstance) and inst.series_uid in self.grown:
                out.append((inst, (pkey, size, mtime, inst.sha256),
                            keyed_hash(ctx.key, "sop:" + inst.sop_uid)))
                disc.unchanged -= 1
        return out

    def _attribute_damaged(self, fresh: list[tuple[DicomInstance, FileRow, str]]) -> None:
        """A damaged DICOM file whose header was cut before its SeriesInstanceUID belongs to
        the series of its folder when that folder holds exactly one series: that series is
        incomplete (e.g. its last slice is missing, which no position gap reveals)."""
        if not self.damaged_in_dir:
            return
        series_in_dir: dict[str, set[str]] = defaultdict(set)
        for inst, _row, _key in fresh:
            if inst.series_uid:
                series_in_dir[_folder(inst.rel)].add(inst.series_uid)
        for folder, n in self.damaged_in_dir.items():
            uids = series_in_dir.get(folder, set())
            if len(uids) == 1:
                self.damaged[next(iter(uids))] += n

    def _group(self, ctx: Context, fresh: list[tuple[DicomInstance, FileRow, str]],
               disc: Discovery) -> None:
        self._attribute_damaged(fresh)
        by_series: dict[str, list[tuple[DicomInstance, FileRow, str]]] = defaultdict(list)
        for item in fresh:
            by_series[item[0].series_uid or f"no-series:{item[0].rel}"].append(item)
        by_study: dict[str, list[tuple[SeriesInput, list[DicomInstance]]]] = defaultdict(list)
        wait_series = getattr(self, "wait_series", set())
        self.persons: dict[str, str] = {}  # study UID -> person text (PHI, in memory only)
        wait_dirs = getattr(self, "wait_dirs", set())
        for series_uid, items in sorted(by_series.items()):
            items.sort(key=lambda t: t[0].rel)
            insts = [t[0] for t in items]
            if series_uid in wait_series or any(_folder(i.rel) in wait_dirs for i in insts):
                disc.waiting.append({"description": "", "files": len(items), "reason": (
                    f"series still arriving: a file of it (or of its folder) changed less "
                    f"than {ctx.quiet_s:g} s ago (ingest_quiet_s)")})
                continue  # nothing recorded: the next run reads it again
            s = SeriesInput(key=keyed_hash(ctx.key, "series:" + series_uid), kind=None,
                            reason="", series_uid=series_uid,
                            order=(insts[0].series_number or 0, series_uid))
            seen: dict[str, str] = {}
            clash = False
            unique: list[DicomInstance] = []  # one instance per SOPInstanceUID
            for inst, row, ikey in items:
                s.file_rows.append(row)
                if ikey in seen:  # the same image twice (re-sent): convert it once
                    clash |= seen[ikey] != inst.sha256
                    disc.duplicates += 1
                    continue
                unique.append(inst)
                s.files.append(inst.rel)
                seen[ikey] = inst.sha256
                s.inst_rows.append((ikey, inst.sha256))
            all_files = [inst.rel for inst in insts]  # re-sent copies too: name every file
            problem = self._series_problem(ctx, s, insts, clash)
            if problem:
                disc.quarantine.append(_item(s, all_files, *problem))
                disc.quarantine_rows += s.file_rows
                continue
            first = read_instance(insts[0].path, insts[0].rel, full=True)
            _register_identifiers([first])
            c = classify_series(
                modality=first.modality, sop_class=first.sop_class,
                image_type=first.image_type,
                description=f"{first.series_description} {first.protocol_name}",
                repetition_time=first.repetition_time, echo_time=first.echo_time,
                inversion_time=first.inversion_time,
                scanning_sequence=first.scanning_sequence, sequence_name=first.sequence_name,
                has_pixels=all(i.has_pixels for i in insts),
                sequence_variant=first.sequence_variant, contrast_agent=first.contrast_agent,
                b_value=first.b_value, heuristics=ctx.heuristics,
                fields={"SeriesDescription": first.series_description,
                        "ProtocolName": first.protocol_name,
                        "SequenceName": first.sequence_name, "Modality": first.modality,
                        "ImageType": list(first.image_type),
                        "ScanningSequence": first.scanning_sequence,
                        "SeriesNumber": str(first.series_number or "")})
            s.kind, s.reason = c.kind, c.reason
            s.description = (first.series_description or first.protocol_name)[:64]
            s.thickness = first.slice_thickness
            s.kernel = first.kernel
            self.persons[first.study_uid] = self.persons.get(first.study_uid) or first.person
            no_pixels = no_pixel_problem(unique) if c.kind or c.reason == NO_PIXELS else None
            if no_pixels:  # an image series (CT/MR storage) whose pixels are missing
                disc.quarantine.append(_item(s, all_files, no_pixels, "unreadable"))
                disc.quarantine_rows += s.file_rows
                continue
            if c.kind is None:
                disc.skipped.append(s)
                continue
            incomplete = incomplete_problem(unique, first)
            if incomplete:  # waits (not quarantined, not recorded) for the missing images
                disc.waiting.append({"description": s.description, "files": len(all_files),
                                     "reason": incomplete})
                continue
            geometry = geometry_problem(unique)
            if geometry:  # checked on kept series only (3-plane localizers are skipped above)
                disc.quarantine.append(_item(s, all_files, geometry, "geometry"))
                disc.quarantine_rows += s.file_rows
                continue
            from tasks.ingest.geometry import from_instances

            s.geometry = from_instances(unique)
            by_study[first.study_uid].append((s, insts))
        for study_uid, members in sorted(by_study.items()):
            self._add_study(study_uid, members, disc)
            disc.studies[-1].person = self.persons.get(study_uid, "")

    def _series_problem(self, ctx: Context, s: SeriesInput, insts: list[DicomInstance],
                        clash: bool) -> tuple[str, str] | None:
        if s.series_uid.startswith("no-series:"):
            return ("DICOM image without SeriesInstanceUID", "unsupported")
        damaged = getattr(self, "damaged", Counter()).get(s.series_uid, 0)
        if damaged:
            return (f"incomplete series: {damaged} of its images are damaged (quarantined "
                    "separately), so the whole series is quarantined",
                    "incomplete")
        if clash:
            return ("duplicate series with different content: two different images share one "
                    "SOPInstanceUID", "duplicate")
        patients = {i.patient_id for i in insts}
        if len(patients) > 1:
            return (f"series inconsistent with itself: images of {len(patients)} different "
                    "patients (PatientID) in one series", "inconsistent")
        if not insts[0].study_uid:
            return ("DICOM image without StudyInstanceUID", "unsupported")
        why = placeholder_id(insts[0].patient_id)
        if why:
            return (f"no patient identity: {why}. Set the real PatientID in the files and send "
                    "them again, or set ingest_placeholder_ids = \"study\" to treat each study "
                    "as its own subject", "identity")
        if len({i.study_uid for i in insts}) > 1:
            return ("series spread over several studies (StudyInstanceUID differs)",
                    "inconsistent")
        prev = ctx.series.get(s.key)  # a quarantined series is judged anew, whole
        earlier = getattr(self, "grown", {}).get(s.series_uid)
        if prev is not None and prev[3] == "ingested" and earlier:
            found = sum(1 for ikey, _sha in s.inst_rows if ikey in ctx.instances)
            if found >= earlier:  # every earlier image is here: convert the series whole
                s.replaces = True
                return None
        if prev is not None and prev[3] == "ingested":
            return ("series grew after it was ingested: new images for a series already in "
                    f"the dataset (sub-{prev[0]} ses-{prev[1]} {prev[2]}), but its earlier "
                    "images are not all beside them in the drop folder, so it cannot be "
                    "converted whole; the dataset keeps the earlier images (docs/ingest.md, "
                    "'Series completeness')", "grown")
        return None

    @staticmethod
    def _add_study(study_uid: str, members: list[tuple[SeriesInput, list[DicomInstance]]],
                   disc: Discovery) -> None:
        votes = Counter(insts[0].patient_id for _, insts in members)
        patient, _ = max(votes.items(), key=lambda kv: (kv[1], kv[0]))
        dates = Counter(insts[0].study_date for _, insts in members
                        if insts[0].patient_id == patient and insts[0].study_date)
        date = parse_dicom_date(dates.most_common(1)[0][0]) if dates else None
        study = Study(patient_id=patient, study_uid=study_uid, date=date)
        for s, insts in members:
            if insts[0].patient_id != patient:
                disc.quarantine.append(s.quarantine_item(
                    "series inconsistent with its study: its PatientID differs from the other "
                    "series of the same study", "inconsistent"))
                disc.quarantine_rows += s.file_rows
            else:
                study.series.append(s)
        disc.studies.append(study)


#: bytes of a file refused unread (sparse, over the size bound) that go into its hash
REFUSED_HASH_PREFIX = 64 << 10


def _refused_hash(path: Path, size: int) -> str:
    """Content hash of a file refused unread: its size and first ``REFUSED_HASH_PREFIX``
    bytes (a bounded read). Not its mtime: the same export copied into another home, or
    again, gets the same quarantine id, as every other quarantined file does."""
    with open(path, "rb") as fh:
        head = fh.read(REFUSED_HASH_PREFIX)
    return hashlib.sha256(b"unread:%d:" % size + head).hexdigest()
