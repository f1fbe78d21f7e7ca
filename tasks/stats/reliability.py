"""Which markers the report cannot stand behind: a reliability flag per marker.

Two sources, each with a stated rule:

* **agreement with truth** (when a ground-truth table is present, a simulated cohort): a
  marker is flagged when its per-subject Pearson r with the truth is below
  :data:`MIN_TRUTH_R` (0.5: less than a quarter of the variance shared), or when the ratio of
  its measured mean to the true mean lies outside :data:`RATIO_RANGE` (0.5-2: the marker
  measures a systematically different quantity, at least a factor 2 off);
* **quality control**: microbleed markers are flagged when more than
  :data:`MAX_T2W_MICROBLEED_SHARE` (half) of the analysed baseline sessions counted them on
  T2w because no T2*w/SWI was acquired (T2w misses most microbleeds: Greenberg SM et al.,
  Lancet Neurol 2009, "Cerebral microbleeds: a guide to detection and interpretation").

Pure functions on DataFrames; the report shows the flag beside the marker in Table 2 and
Table 4 and lists the reasons in table ``reliability``.
"""

from __future__ import annotations

import math

import pandas as pd

#: per-subject Pearson r with the truth below this: unreliable
MIN_TRUTH_R = 0.5
#: measured mean / true mean outside this range: unreliable
RATIO_RANGE = (0.5, 2.0)
#: share of sessions with microbleeds counted on T2w above this: unreliable
MAX_T2W_MICROBLEED_SHARE = 0.5
MICROBLEED_MARKERS = ("microbleed_count", "microbleed_volume_mm3")
FLAG = "⚠ unreliable"


def _num(v: object) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return x


def truth_reasons(agreement: pd.DataFrame | None) -> dict[str, list[str]]:
    """Reasons per marker from the truth agreement table (``pearson_r``, ``mean_measured``,
    ``mean_truth``)."""
    out: dict[str, list[str]] = {}
    if agreement is None or not len(agreement):
        return out
    for r in agreement.to_dict("records"):
        reasons = []
        pr = _num(r.get("pearson_r"))
        if math.isfinite(pr) and pr < MIN_TRUTH_R:
            reasons.append(f"r = {pr:.2f} against truth (rule: r < {MIN_TRUTH_R})")
        mm, mt = _num(r.get("mean_measured")), _num(r.get("mean_truth"))
        if math.isfinite(mm) and math.isfinite(mt) and mt > 0:
            ratio = mm / mt
            if not RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]:
                reasons.append(f"measured mean {ratio:.2g}x the true mean (rule: outside "
                               f"{RATIO_RANGE[0]:g}-{RATIO_RANGE[1]:g})")
        if reasons:
            out[str(r["marker"])] = reasons
    return out


def qc_reasons(baseline: pd.DataFrame) -> dict[str, list[str]]:
    """Reasons per marker from the sessions' QC (microbleeds counted on T2w)."""
    if "microbleed_contrast" not in baseline or not len(baseline):
        return {}
    contrast = baseline["microbleed_contrast"].dropna().astype(str)
    if not len(contrast):
        return {}
    n_t2w = int((contrast == "T2w").sum())
    if n_t2w / len(contrast) <= MAX_T2W_MICROBLEED_SHARE:
        return {}
    why = (f"microbleeds counted on T2w (no T2*w/SWI) in {n_t2w} of {len(contrast)} sessions "
           f"(rule: more than {MAX_T2W_MICROBLEED_SHARE:.0%})")
    return {m: [why] for m in MICROBLEED_MARKERS}


def reliability_table(agreement: pd.DataFrame | None, baseline: pd.DataFrame,
                      labels: dict[str, str]) -> pd.DataFrame:
    """One row per flagged marker: ``marker, label, flag, reasons``."""
    merged: dict[str, list[str]] = {}
    for source in (truth_reasons(agreement), qc_reasons(baseline)):
        for m, rs in source.items():
            merged.setdefault(m, []).extend(rs)
    rows = [{"marker": m, "label": labels.get(m, m), "flag": FLAG, "reasons": "; ".join(rs)}
            for m, rs in merged.items()]
    return pd.DataFrame(rows, columns=["marker", "label", "flag", "reasons"])


def flag_column(markers: pd.Series, table: pd.DataFrame) -> pd.Series:
    """The flag (``⚠ unreliable``, or empty) for each marker name in ``markers``."""
    flagged = set(table["marker"]) if len(table) else set()
    return markers.map(lambda m: FLAG if m in flagged else "")
