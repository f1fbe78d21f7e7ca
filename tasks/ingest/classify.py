"""Classify a series (head CT, T1w, T2w, FLAIR, T2*/SWI) from its DICOM attributes.

Rules, in order: non-image objects and localizers are skipped; CT is ``ct``; for MR the series
description / protocol / sequence-name keywords decide (T2*/SWI words first, so that
``t2_fl2d_hemo`` is not read as FLAIR), and when they are silent the timing
parameters do (times in ms):

* FLAIR: inversion time TI >= 1500 and TR >= 4000 (dark-fluid inversion recovery);
* T2starw: gradient echo (``GR`` in ScanningSequence, or no SE) with TR < 1500 and TE >= 15
  (3-D SWI: TR ~30 ms; 2-D T2* GRE: TR ~500-800 ms);
* T2w: TR >= 2500 and TE >= 60;
* T1w: TR <= 2500 and TE <= 30, or an MPRAGE-like TI < 1500 with a short TE.

Reference for the typical values: the study's protocol (``/work/shared/paper/tables.yaml``:
T1w 2000/25 ms, T2w 9000/90 ms, FLAIR 9000/2500/110 ms) and standard MR physics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: BIDS name parts (entities before the suffix, and the suffix) for each kind
BIDS_NAME: Final[dict[str, str]] = {
    "T1w": "T1w",
    "T2w": "T2w",
    "FLAIR": "FLAIR",
    "T2starw": "acq-swi_T2starw",
    "ct": "ct",
}
KINDS: Final[tuple[str, ...]] = tuple(BIDS_NAME)
#: the reason given for an image series without PixelData (the DICOM source quarantines it)
NO_PIXELS: Final[str] = "no pixel data"

_SKIP_WORDS: Final[tuple[tuple[str, str], ...]] = (
    (r"localizer|localiser|scout|survey|topogram|aahead|pilot", "localizer/scout"),
    (r"dose|screen ?save", "dose report"),
    (r"\bmip\b|minip|\bmpr\b|projection|phoenix", "derived reformat or projection"),
    (r"\bmoco\b|\bdwi\b|\bdti\b|diffusion|\badc\b|\btrace\b|perfusion|\bbold\b",
     "contrast not used by calcisvd (diffusion/perfusion/fMRI)"),
)
_MR_WORDS: Final[tuple[tuple[str, str], ...]] = (
    (r"\bswi\b|swi_|_swi|t2\*|t2star|t2.?star|\bgre\b|hemo|susc|\bswan\b", "T2starw"),
    (r"flair|dark.?fluid|tirm|\btir\b", "FLAIR"),
    (r"t1|mprage|mp.?rage|spgr|bravo|\btfl", "T1w"),
    (r"t2", "T2w"),
)


@dataclass(frozen=True)
class Classification:
    """The kind of a series (one of :data:`KINDS`) or ``None`` with the reason it is skipped."""

    kind: str | None
    reason: str


def classify_series(
    *,
    modality: str,
    sop_class: str = "",
    image_type: tuple[str, ...] = (),
    description: str = "",
    repetition_time: float | None = None,
    echo_time: float | None = None,
    inversion_time: float | None = None,
    scanning_sequence: str = "",
    sequence_name: str = "",
    has_pixels: bool = True,
) -> Classification:
    """Decide what a series is; times in ms (DICOM units). See the module docstring."""
    from tasks.ingest.dicom import NON_IMAGE_SOP_PREFIXES, SECONDARY_CAPTURE_PREFIX

    modality = (modality or "").upper()
    itype = {t.upper() for t in image_type}
    text = (description or "").lower()
    if modality in {"SR", "PR", "KO", "DOC", "REG", "SEG", "RTDOSE", "RTSTRUCT", "RTPLAN"} or \
            sop_class.startswith(NON_IMAGE_SOP_PREFIXES):
        return Classification(None, f"non-image object (modality {modality or 'unknown'})")
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX) or modality == "OT":
        return Classification(None, "secondary capture (screenshot), not an acquisition")
    if not has_pixels:
        return Classification(None, NO_PIXELS)
    if "LOCALIZER" in itype or "SCOUT" in itype:
        return Classification(None, "localizer/scout (ImageType)")
    if "SCREEN SAVE" in itype or "DOSE_INFO" in itype:
        return Classification(None, "dose report")
    for pattern, why in _SKIP_WORDS:
        if re.search(pattern, text):
            return Classification(None, f"{why} (series description)")
    if "MIP" in itype or "MINIP" in itype or "PROJECTION IMAGE" in itype:
        return Classification(None, "derived projection (ImageType)")
    if modality == "CT":
        return Classification("ct", "CT image series")
    if modality != "MR":
        return Classification(None, f"unsupported modality {modality or 'unknown'}")
    words = f"{text} {(sequence_name or '').lower()}"
    for pattern, kind in _MR_WORDS:
        if re.search(pattern, words):
            return Classification(kind, f"{kind} (series description keywords)")
    tr, te, ti = repetition_time, echo_time, inversion_time
    seq = (scanning_sequence or "").upper()
    if tr is None or te is None:
        return Classification(None, "MR series without description keywords or TR/TE")
    if ti is not None and ti >= 1500 and tr >= 4000:
        return Classification("FLAIR", "FLAIR (TI/TR)")
    if ("GR" in seq or "SE" not in seq) and tr < 1500 and te >= 15:
        return Classification("T2starw", "T2*-weighted gradient echo (TR/TE)")
    if tr >= 2500 and te >= 60:
        return Classification("T2w", "T2w (TR/TE)")
    if (tr <= 2500 and te <= 30) or (ti is not None and ti < 1500 and te <= 10):
        return Classification("T1w", "T1w (TR/TE)")
    return Classification(None, f"MR contrast not recognised (TR {tr:g} ms, TE {te:g} ms)")
