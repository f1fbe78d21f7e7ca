"""Classify a series (head CT, T1w, T2w, FLAIR, T2*/SWI) from its DICOM attributes.

Rules, in order: non-image objects and localizers are skipped; a site heuristic file
(dcm2bids-style, :mod:`tasks.ingest.heuristics`) decides for the local series names it
matches; then the DICOM fields: ImageType (DIFFUSION, ADC, TRACEW, FA, PERFUSION, MIP), a
diffusion b-value (DiffusionBValue or the vendors' private b-value elements), a Siemens
``*ep_b`` sequence name, a ContrastBolusAgent (contrast-enhanced CT is not a calcium score
scan; contrast-enhanced MR is not a native contrast); CT is ``ct``; for MR the series
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

#: a word bounded by non-letters: ``dti_tra_12dir`` holds ``dti``, ``iDose4`` holds no ``dose``
_W = r"(?<![a-z]){}(?![a-z])"
_SKIP_WORDS: Final[tuple[tuple[str, str], ...]] = (
    (r"localizer|localiser|scout|survey|topogram|aahead|pilot", "localizer/scout"),
    (_W.format(r"dose ?(report|info|summary)?") + r"|screen ?save", "dose report"),
    (_W.format("(mip|minip|mpr)") + r"|projection|phoenix", "derived reformat or projection"),
    (_W.format("(moco|dwi|dti|adc|trace|tracew|bold|dsc|dce|asl|pasl|pcasl|ep2d_diff)")
     + r"|diffusion|perfusion|tensor",
     "contrast not used by calcisvd (diffusion/perfusion/fMRI)"),
)
#: ImageType values of diffusion / perfusion / derived maps (DICOM PS3.3 C.8.13.1.1.1 and
#: the vendors' conventions: Siemens DIFFUSION/ADC/TRACEW/FA, GE and Philips PERFUSION)
_SKIP_IMAGE_TYPES: Final[dict[str, str]] = {
    "DIFFUSION": "diffusion", "ADC": "diffusion", "TRACEW": "diffusion", "FA": "diffusion",
    "EADC": "diffusion", "PERFUSION": "perfusion", "MOSAIC": "fMRI/diffusion mosaic"}
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
    sequence_variant: str = "",
    contrast_agent: str = "",
    b_value: float | None = None,
    heuristics: tuple = (),
    fields: dict | None = None,
) -> Classification:
    """Decide what a series is; times in ms (DICOM units). See the module docstring.

    ``heuristics`` are site rules (:func:`tasks.ingest.heuristics.load_heuristics`) matched
    against ``fields`` (DICOM keyword -> value, e.g. SeriesDescription, ProtocolName).
    """
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
    if heuristics:
        from tasks.ingest.heuristics import match_heuristics

        site = match_heuristics(heuristics, fields or {})
        if site is not None:
            return site
    for value, why in _SKIP_IMAGE_TYPES.items():
        if value in itype:
            return Classification(None, f"contrast not used by calcisvd ({why}; ImageType "
                                  f"{value})")
    if b_value is not None and b_value > 0:
        return Classification(None, f"contrast not used by calcisvd (diffusion; b-value "
                              f"{b_value:g} s/mm2)")
    if re.search(r"ep_b\d|ep2d_diff|epse_diff", (sequence_name or "").lower()):
        return Classification(None, "contrast not used by calcisvd (diffusion; sequence name)")
    agent = (contrast_agent or "").strip().upper()
    if agent and agent not in {"NONE", "NO", "N/A", "NA", "0", "-"} and \
            not agent.startswith(("NO ", "NON", "WITHOUT", "NATIVE", "PLAIN")):
        what = "calcium scoring needs a non-contrast CT" if modality == "CT" else \
            "calcisvd uses native (non-contrast) MR"
        return Classification(None, f"contrast-enhanced series (ContrastBolusAgent set): {what}")
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
    prepared = "MP" in (sequence_variant or "").upper().split("\\")
    if (tr <= 2500 and te <= 30) or (ti is not None and ti < 1500 and te <= 10) or \
            (prepared and te <= 10 and tr <= 3000):
        return Classification("T1w", "T1w (TR/TE)")
    return Classification(None, f"MR contrast not recognised (TR {tr:g} ms, TE {te:g} ms)")
