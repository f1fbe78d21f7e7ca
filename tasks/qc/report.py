"""QC HTML: one page per session (reportlets + numbers) and a group index linking them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calcisvd.io import atomic_write_text
from calcisvd.measures import ARTERY_MEASURES, IQM_UNITS, SVD_MEASURES

_TEMPLATES = Path(__file__).with_name("templates")


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html", "j2"]))


def fmt(value: Any) -> str:
    """Numbers for people: n/a for missing, 3 significant decimals for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def render_session_qc(doc: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    """HTML page for one session's measures document and its figure links (relative)."""
    label = f"sub-{doc['subject']}_ses-{doc['session']}"
    return _env().get_template("session.html.j2").render(
        doc=doc, label=label, figures=figures, fmt=fmt, artery_measures=ARTERY_MEASURES,
        svd_measures=SVD_MEASURES, iqm_units=IQM_UNITS, index_href="../../index.html")


#: markers plotted on the static group page: measures key -> (column, unit)
_MARKERS = {("icac", "total_calcium_volume_mm3"): "m_calcium_volume_mm3",
            ("icac", "total_agatston"): "m_agatston", ("icac", "total_mass_mg"): "m_mass_mg",
            ("svd", "wmh_volume_cm3"): "m_wmh_volume_cm3",
            ("svd", "fazekas_total"): "m_fazekas_total",
            ("svd", "microbleed_count"): "m_microbleed_count",
            ("svd", "lacune_count"): "m_lacune_count", ("svd", "pvs_count"): "m_pvs_count",
            ("svd", "svd_score"): "m_svd_score"}
#: unit of a column, from the end of its name
_UNIT_SUFFIX = {"_mm3": "mm³", "_cm3": "cm³", "_ml": "ml", "_mm": "mm", "_deg": "degrees",
                "_hu": "HU", "_mg": "mg", "_count": "count", "_kvp": "kV"}


def _unit(column: str) -> str | None:
    if column.startswith("iqm_"):
        return IQM_UNITS.get(column.split("_", 2)[-1])
    return next((u for suf, u in _UNIT_SUFFIX.items() if column.lower().endswith(suf)), None)


def group_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One session's row of the static group page from its measures document: statuses,
    severity and location, markers (``m_*``), the methods' QC metrics (``qc_*``; the MRI's
    as ``qc_mri_*``) and image-quality metrics (``iqm_<modality>_<metric>``)."""
    icac, svd = doc.get("icac") or {}, doc.get("svd") or {}
    row: dict[str, Any] = {
        "subject": doc["subject"], "session": doc["session"],
        "icac_status": icac.get("status"), "svd_status": svd.get("status"),
        "severity": icac.get("severity_group") or "", "location":
            icac.get("dominant_location") or ""}
    for (part, key), col in _MARKERS.items():
        row[col] = (icac if part == "icac" else svd).get(key)
    row.update({k: v for k, v in icac.items() if k.startswith("qc_")})
    row.update({f"qc_mri_{k}": v for k, v in (svd.get("qc") or {}).items()})
    for part in (svd, icac):
        for modality, metrics in (part.get("iqms") or {}).items():
            row.update({f"iqm_{modality}_{k}": v for k, v in (metrics or {}).items()})
    return row


def session_thumbnails(derivatives_dir: Path) -> dict[str, str]:
    """``sub-X_ses-Y`` -> the path (relative to ``derivatives_dir``) of its first figure (a
    PNG overlay when there is one, else an SVG reportlet): the group pages' thumbnails."""
    deriv = Path(derivatives_dir)
    out: dict[str, str] = {}
    for pattern in ("sub-*/ses-*/figures/*.png", "sub-*/ses-*/figures/*.svg"):
        for p in sorted(deriv.glob(pattern)):
            out.setdefault("_".join(p.name.split("_")[:2]), p.relative_to(deriv).as_posix())
    return out


def write_group_index(derivatives_dir: Path) -> Path:
    """(Re)write ``index.html``: the group QC page (tasks/qc/group.py, as `calcisvd qc
    serve` shows it) for every session that has a measures file, with relative links, so the
    folder can be opened from disk or copied; ratings are on the served page."""
    from urllib.parse import quote

    from tasks.qc.group import render_index

    derivatives_dir = Path(derivatives_dir)
    rows, hrefs = [], {}
    for mpath in sorted(derivatives_dir.glob("sub-*/ses-*/sub-*_ses-*_measures.json")):
        try:
            doc = json.loads(mpath.read_text())
        except ValueError:
            continue
        label = mpath.name.removesuffix("_measures.json")
        hrefs[label] = (mpath.parent.relative_to(derivatives_dir) / f"{label}_qc.html"
                        ).as_posix()
        rows.append(group_row(doc))
    units = {c: u for c in {k for r in rows for k in r} if (u := _unit(c))}
    html = render_index(
        rows, session_thumbnails(derivatives_dir), units,
        session_href=lambda lab: quote(hrefs[lab]), file_href=quote,
        extra=("severity", "location"), prefixes=("m_", "qc_", "iqm_"),
        note=f"Written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} from the measures "
             "files; m_* are the markers. Ratings: `calcisvd qc serve`.")
    out = derivatives_dir / "index.html"
    atomic_write_text(out, html)
    return out
