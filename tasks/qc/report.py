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


def write_group_index(derivatives_dir: Path) -> Path:
    """(Re)write ``index.html`` listing every session that has a measures file."""
    derivatives_dir = Path(derivatives_dir)
    rows = []
    for mpath in sorted(derivatives_dir.glob("sub-*/ses-*/sub-*_ses-*_measures.json")):
        try:
            doc = json.loads(mpath.read_text())
        except ValueError:
            continue
        icac, svd = doc.get("icac", {}), doc.get("svd", {})
        label = mpath.name.removesuffix("_measures.json")
        rows.append({
            "label": label,
            "href": str(mpath.parent.relative_to(derivatives_dir) / f"{label}_qc.html"),
            "icac_status": icac.get("status"), "svd_status": svd.get("status"),
            "severity": icac.get("severity_group") or "n/a",
            "location": icac.get("dominant_location") or "n/a",
            "calcium": fmt(icac.get("total_calcium_volume_mm3")),
            "wmh": fmt(svd.get("wmh_volume_cm3")), "fazekas": fmt(svd.get("fazekas_total")),
            "mb": fmt(svd.get("microbleed_count")), "lac": fmt(svd.get("lacune_count")),
            "svd_score": fmt(svd.get("svd_score")),
        })
    html = _env().get_template("index.html.j2").render(
        rows=rows, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    out = derivatives_dir / "index.html"
    atomic_write_text(out, html)
    return out
