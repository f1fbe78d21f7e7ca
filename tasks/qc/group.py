"""The group QC page: one builder for the page `calcisvd qc serve` serves and the static
``index.html`` quantify writes into the derivatives (opened from disk, offline).

Pure: rows of plain values in, HTML out; links are made by the caller's ``session_href`` and
``file_href`` (``/session/...`` and ``/files/...`` on the server, relative paths in the
static page). The page: one row per session (thumbnail, statuses, the caller's extra columns,
metrics), sortable by clicking a header, filtered by a text box (inline script, no network);
per metric and marker a distribution strip whose points link to the session page; outliers
(robust z > 3.5: median and 1.4826 x MAD, Iglewicz B & Hoaglin DC 1993) highlighted.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

#: robust z above which a session's metric is an outlier (Iglewicz & Hoaglin 1993)
OUTLIER_Z = 3.5
_E = html.escape

CSS = """body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}th{cursor:pointer;background:#eee}
.wrap{overflow-x:auto}.out{background:#fdd}.fail{color:#b00}.review{color:#b60}
.pass,.ok{color:#070}img.thumb{height:48px}
img.reportlet{max-width:100%;border:1px solid #ddd}figure{margin:.5em 0}
#strips{display:flex;flex-wrap:wrap;gap:.2em 1.5em}div.strip{width:410px;font-size:13px}
svg a circle{fill:#369}svg a circle.o{fill:#d00}
button{font-size:15px;margin-right:.5em}"""
_JS = """function sortBy(i){const t=document.getElementById('idx'),b=t.tBodies[0],
r=[...b.rows],asc=t.dataset.col==i&&t.dataset.dir!='asc';t.dataset.col=i;
t.dataset.dir=asc?'asc':'desc';r.sort((x,y)=>{let a=x.cells[i].dataset.v??x.cells[i].innerText,
c=y.cells[i].dataset.v??y.cells[i].innerText,p=parseFloat(a),q=parseFloat(c);
if(a===''||c==='')return (a==='')-(c==='');
let d=(!isNaN(p)&&!isNaN(q))?p-q:a.localeCompare(c);return asc?d:-d});
r.forEach(e=>b.appendChild(e))}
function filt(v){v=v.toLowerCase();for(const r of document.getElementById('idx').tBodies[0].rows)
r.style.display=r.innerText.toLowerCase().includes(v)?'':'none'}"""


def robust_z(values: list[float | None]) -> list[float]:
    """|x - median| / (1.4826 MAD) per value (nan for missing).

    When more than half the values are equal the MAD is 0; then the mean absolute deviation
    scaled by 1.2533 (sqrt(pi/2), its normal-consistency factor) is the denominator, as in the
    usual modified z-score fallback; 0 when every value is the same.
    """
    import numpy as np

    x = np.array([math.nan if v is None else float(v) for v in values], float)
    ok = np.isfinite(x)
    if ok.sum() < 3:
        return [0.0 if f else math.nan for f in ok]
    med = float(np.median(x[ok]))
    dev = np.abs(x[ok] - med)
    scale = 1.4826 * float(np.median(dev)) or 1.2533 * float(dev.mean())
    return [(abs(v - med) / scale if scale > 0 else 0.0) if f else math.nan
            for v, f in zip(x, ok, strict=True)]


def metric_columns(rows: list[dict[str, Any]],
                   prefixes: Sequence[str] = ("qc_", "iqm_")) -> list[str]:
    """The numeric columns whose names start with one of ``prefixes`` (default: ``qc_*`` of
    the methods, then the image-quality metrics ``iqm_<modality>_<metric>``), in that
    order, with at least one value."""
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(k for k in r if k.startswith(tuple(prefixes))))
    order = list(keys)
    cols = sorted(keys, key=lambda k: (next(i for i, p in enumerate(prefixes)
                                            if k.startswith(p)), order.index(k)))
    return [c for c in cols if c != "qc_decision"
            and any(isinstance(r.get(c), (int, float)) for r in rows)]


def _head(metric: str, units: dict[str, str]) -> str:
    """Column/plot label: the metric with its unit when known."""
    return f"{metric} ({units[metric]})" if metric in units else metric


def session_label(r: dict[str, Any]) -> str:
    return f"sub-{r['subject']}_ses-{r['session']}"


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _strip(metric: str, rows: list[dict[str, Any]], z: list[float],
           units: dict[str, str] | None, session_href: Callable[[str], str]) -> str:
    """An SVG strip plot of one metric; each point links to its session page."""
    vals = [(r, r.get(metric), zz) for r, zz in zip(rows, z, strict=True)
            if isinstance(r.get(metric), (int, float))]
    if not vals:
        return ""
    lo, hi = min(v for _, v, _ in vals), max(v for _, v, _ in vals)
    span = (hi - lo) or 1.0
    pts = []
    for i, (r, v, zz) in enumerate(vals):
        x = 10 + 380 * (v - lo) / span
        cls = ' class="o"' if zz > OUTLIER_Z else ""
        pts.append(f'<a href="{_E(session_href(session_label(r)))}"><circle cx="{x:.1f}" '
                   f'cy="{12 + (i % 5) * 4}" r="4"{cls}><title>{_E(session_label(r))}: {fmt(v)}'
                   f'</title></circle></a>')
    n_out = sum(zz > OUTLIER_Z for _, _, zz in vals)
    return (f'<div class=strip><b>{_E(_head(metric, units or {}))}</b> {fmt(lo)} - '
            f'{fmt(hi)}{f" ({n_out} outlier(s))" if n_out else ""}<br><svg width="400" '
            f'height="36" role="img" aria-label="{_E(metric)}">{"".join(pts)}</svg></div>')


def render_index(rows: list[dict[str, Any]], thumbs: dict[str, str],
                 units: dict[str, str] | None = None, *,
                 session_href: Callable[[str], str], file_href: Callable[[str], str],
                 extra: Sequence[str] = ("rating", "qc_decision"),
                 prefixes: Sequence[str] = ("qc_", "iqm_"), note: str = "") -> str:
    """The group index page. ``units``: metric column -> unit, for the labels; ``extra``:
    text columns after the statuses (the server's latest rating and QC decision);
    ``prefixes``: which numeric columns are plotted (:func:`metric_columns`); ``note``: a
    sentence under the title (escaped)."""
    units = units or {}
    metrics = metric_columns(rows, prefixes)
    zs = {m: robust_z([r.get(m) for r in rows]) for m in metrics}
    names = {"rating": "rating", "qc_decision": "decision"}
    head = ["session", "thumbnail", "MRI", "CT", *(names.get(e, e) for e in extra),
            *(_head(m, units) for m in metrics)]
    ths = "".join(f'<th onclick="sortBy({i})">{_E(h)}</th>' for i, h in enumerate(head))
    body = []
    for k, r in enumerate(rows):
        lab = session_label(r)
        thumb = (f'<a href="{_E(file_href(thumbs[lab]))}"><img class="thumb" '
                 f'src="{_E(file_href(thumbs[lab]))}" alt="" loading="lazy"></a>'
                 if lab in thumbs else "")
        cells = [f'<td><a href="{_E(session_href(lab))}">{_E(lab)}</a></td>',
                 f"<td>{thumb}</td>",
                 f'<td class="{_E(str(r["svd_status"]))}">{_E(str(r["svd_status"] or ""))}</td>',
                 f'<td class="{_E(str(r["icac_status"]))}">{_E(str(r["icac_status"] or ""))}'
                 "</td>",
                 *(f'<td class="{_E(str(r.get(e) or ""))}">{_E(str(r.get(e) or ""))}</td>'
                   for e in extra)]
        for m in metrics:
            out = ' class="out"' if zs[m][k] > OUTLIER_Z else ""
            cells.append(f'<td{out} data-v="{fmt(r.get(m))}">{fmt(r.get(m))}</td>')
        body.append(f'<tr id="{_E(lab)}">{"".join(cells)}</tr>')
    strips = "".join(_strip(m, rows, zs[m], units, session_href) for m in metrics)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>calcisvd QC</title>"
            f"<style>{CSS}</style><script>{_JS}</script></head><body><h1>Quality control"
            f"</h1><p>{len(rows)} session(s). {_E(note)} Click a header to sort; red cells "
            "and points are "
            f"outliers (robust z &gt; {OUTLIER_Z}: |x - median| / 1.4826 MAD). Columns qc_* "
            "are the methods' QC metrics, iqm_* the image-quality metrics (MRIQC-style).</p>"
            "<input id=filter placeholder='filter' "
            f"oninput='filt(this.value)'><div class=wrap><table id=idx><thead><tr>{ths}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table></div><h2>Distributions</h2>"
            f"<div id=strips>{strips}</div></body></html>")
