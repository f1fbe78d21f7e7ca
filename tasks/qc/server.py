"""`calcisvd qc serve`: the QC pages as a small local web app (stdlib http.server).

Binds 127.0.0.1 only. Pages (read from the warehouse view ``v_session_qc`` on every request,
through a short read-only connection):

* ``/`` group index: one row per session (thumbnail, MRI/CT status, latest rating, QC
  decision, QC metrics), sortable by clicking a header, filtered by a text box; per metric a
  distribution strip whose points link to the session page; outliers (robust z > 3.5: median
  and 1.4826 x MAD, Iglewicz B & Hoaglin DC 1993) highlighted.
* ``/session/sub-X_ses-Y`` statuses, reasons, metrics, rating history, the session's static
  QC page (derivatives) and pass/review/fail buttons that POST ``/rate``.
* ``/rate`` (POST) stores the rating exactly as ``calcisvd qc rate`` does (source ``web``).
* ``/files/<path>`` files under the derivatives folder (figures, static QC pages).
"""

from __future__ import annotations

import html
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

#: robust z above which a session's metric is an outlier (Iglewicz & Hoaglin 1993)
OUTLIER_Z = 3.5
_E = html.escape

_CSS = """body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}
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


def metric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The numeric QC columns (``qc_*`` of the methods, then the image-quality metrics
    ``iqm_<modality>_<metric>``) with at least one value."""
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(k for k in r if k.startswith(("qc_", "iqm_"))))
    cols = sorted(keys, key=lambda k: (k.startswith("iqm_"), list(keys).index(k)))
    return [c for c in cols if c != "qc_decision"
            and any(isinstance(r.get(c), (int, float)) for r in rows)]


def with_iqms(rows: list[dict[str, Any]],
              iqms: dict[tuple[str, str], dict[str, tuple[float | None, str]]]
              ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows with their image-quality metrics as columns, and each metric column's unit."""
    units: dict[str, str] = {}
    out = []
    for r in rows:
        extra = iqms.get((r["subject"], r["session"]), {})
        units.update({k: u for k, (_, u) in extra.items()})
        out.append({**r, **{k: v for k, (v, _) in extra.items()}})
    return out, units


def _head(metric: str, units: dict[str, str]) -> str:
    """Column/plot label: the metric with its unit when known."""
    return f"{metric} ({units[metric]})" if metric in units else metric


def _label(r: dict[str, Any]) -> str:
    return f"sub-{r['subject']}_ses-{r['session']}"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _strip(metric: str, rows: list[dict[str, Any]], z: list[float],
           units: dict[str, str] | None = None) -> str:
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
        pts.append(f'<a href="/session/{quote(_label(r))}"><circle cx="{x:.1f}" '
                   f'cy="{12 + (i % 5) * 4}" r="4"{cls}><title>{_E(_label(r))}: {_fmt(v)}'
                   f'</title></circle></a>')
    n_out = sum(zz > OUTLIER_Z for _, _, zz in vals)
    return (f'<div class=strip><b>{_E(_head(metric, units or {}))}</b> {_fmt(lo)} - '
            f'{_fmt(hi)}{f" ({n_out} outlier(s))" if n_out else ""}<br><svg width="400" '
            f'height="36" role="img" aria-label="{_E(metric)}">{"".join(pts)}</svg></div>')


def render_index(rows: list[dict[str, Any]], thumbs: dict[str, str],
                 units: dict[str, str] | None = None) -> str:
    """The group index page (``units``: metric column -> unit, for the labels)."""
    units = units or {}
    metrics = metric_columns(rows)
    zs = {m: robust_z([r.get(m) for r in rows]) for m in metrics}
    head = ["session", "thumbnail", "MRI", "CT", "rating", "decision",
            *(_head(m, units) for m in metrics)]
    ths = "".join(f'<th onclick="sortBy({i})">{_E(h)}</th>' for i, h in enumerate(head))
    body = []
    for k, r in enumerate(rows):
        lab = _label(r)
        thumb = (f'<img class="thumb" src="/files/{quote(thumbs[lab])}" alt="">'
                 if lab in thumbs else "")
        cells = [f'<td><a href="/session/{quote(lab)}">{_E(lab)}</a></td>', f"<td>{thumb}</td>",
                 f'<td class="{_E(str(r["svd_status"]))}">{_E(str(r["svd_status"] or ""))}</td>',
                 f'<td class="{_E(str(r["icac_status"]))}">{_E(str(r["icac_status"] or ""))}'
                 "</td>",
                 f'<td class="{_E(str(r["rating"]))}">{_E(str(r["rating"] or ""))}</td>',
                 f'<td class="{_E(r["qc_decision"])}">{_E(r["qc_decision"])}</td>']
        for m in metrics:
            out = ' class="out"' if zs[m][k] > OUTLIER_Z else ""
            cells.append(f'<td{out} data-v="{_fmt(r.get(m))}">{_fmt(r.get(m))}</td>')
        body.append(f'<tr id="{_E(lab)}">{"".join(cells)}</tr>')
    strips = "".join(_strip(m, rows, zs[m], units) for m in metrics)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>calcisvd QC</title>"
            f"<style>{_CSS}</style><script>{_JS}</script></head><body><h1>Quality control"
            f"</h1><p>{len(rows)} session(s). Click a header to sort; red cells and points are "
            f"outliers (robust z &gt; {OUTLIER_Z}: |x - median| / 1.4826 MAD). Columns qc_* "
            "are the methods' QC metrics, iqm_* the image-quality metrics (MRIQC-style).</p>"
            "<input id=filter placeholder='filter' "
            f"oninput='filt(this.value)'><div class=wrap><table id=idx><thead><tr>{ths}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table></div><h2>Distributions</h2>"
            f"<div id=strips>{strips}</div></body></html>")


def render_session(r: dict[str, Any], history: list[dict[str, Any]], qc_page: str | None,
                   rater: str, *, figures: list[str] | None = None,
                   units: dict[str, str] | None = None,
                   outliers: dict[str, float] | None = None) -> str:
    """One session: statuses, reasons, SVG reportlets (``figures``: paths under /files/),
    QC and image-quality metrics (with units; ``outliers``: metric -> robust z above
    :data:`OUTLIER_Z` within the group), history, rating buttons."""
    lab = _label(r)
    units, outliers = units or {}, outliers or {}
    metrics = "".join(
        f"<tr{' class=out' if k in outliers else ''}><td>{_E(k)}</td><td>{_fmt(v)}</td>"
        f"<td>{_E(units.get(k, ''))}</td><td>"
        f"{f'outlier (robust z {outliers[k]:.1f})' if k in outliers else ''}</td></tr>"
        for k, v in r.items()
        if k.startswith(("qc_", "iqm_")) and k != "qc_decision" and v is not None)
    hist = "".join(f"<li>{_E(str(h['rated_at']))} <b>{_E(h['rating'])}</b> by "
                   f"{_E(h['rater'])} ({_E(h['source'])}): {_E(h['reason'] or '')}</li>"
                   for h in history) or "<li>none</li>"
    link = (f'<p><a id="qcpage" href="/files/{quote(qc_page)}">QC page with figures</a></p>'
            if qc_page else "")
    figs = "".join(
        f'<figure><a href="/files/{quote(f)}" target="_blank"><img class=reportlet '
        f'src="/files/{quote(f)}" alt="{_E(_desc(f))}"></a><figcaption>{_E(_desc(f))} '
        "(SVG: zoom with the browser, click to open alone)</figcaption></figure>"
        for f in figures or [])
    buttons = "".join(f'<button type="submit" name="rating" value="{v}" id="rate-{v}">{v}'
                      "</button>" for v in ("pass", "review", "fail"))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{_E(lab)}</title><style>"
            f"{_CSS}</style></head><body><p><a href='/'>index</a></p><h1>{_E(lab)}</h1>"
            f"<p>MRI: <b>{_E(str(r['svd_status']))}</b> {_E(r['svd_reason'] or '')}<br>"
            f"CT: <b>{_E(str(r['icac_status']))}</b> {_E(r['icac_reason'] or '')}<br>"
            f"decision: <b id=decision class='{_E(r['qc_decision'])}'>{_E(r['qc_decision'])}"
            f"</b></p>{link}<form method=post action='/rate'><input type=hidden name=subject "
            f"value='{_E(r['subject'])}'><input type=hidden name=session value="
            f"'{_E(r['session'])}'>reason <input name=reason id=reason size=50> rater <input "
            f"name=rater value='{_E(rater)}'> {buttons}</form><h2>Ratings</h2><ul id=history>"
            f"{hist}</ul><h2>Reportlets</h2><div id=reportlets>{figs or 'none'}</div>"
            f"<h2>QC and image-quality metrics</h2><table id=metrics><tr><th>metric</th>"
            f"<th>value</th><th>unit</th><th>group</th></tr>{metrics}</table></body></html>")


def _desc(path: str) -> str:
    """``sub-X_ses-Y_desc-<what>_qc.svg`` -> ``<what>``."""
    name = Path(path).name
    return name.split("_desc-", 1)[-1].rsplit("_qc", 1)[0] if "_desc-" in name else name


def make_server(warehouse_path: Path, derivatives_dir: Path, rater: str,
                port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:``port`` (0 = a free one); call ``serve_forever`` on it."""
    from warehouse import db, ratings

    deriv = Path(derivatives_dir).resolve()

    def rows_units() -> tuple[list[dict[str, Any]], dict[str, str]]:
        con = db.connect(warehouse_path, read_only=True)
        try:
            return with_iqms(ratings.session_qc(con), ratings.session_iqms(con))
        finally:
            con.close()

    def thumbs() -> dict[str, str]:
        out = {}
        for pattern in ("sub-*/ses-*/figures/*.png", "sub-*/ses-*/figures/*.svg"):
            for p in sorted(deriv.glob(pattern)):
                lab = "_".join(p.name.split("_")[:2])
                out.setdefault(lab, p.relative_to(deriv).as_posix())
        return out

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet; no identifiers are logged
            pass

        def _send(self, code: int, body: bytes, ctype: str = "text/html; charset=utf-8",
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = unquote(urlparse(self.path).path)
            if path in ("/", "/index.html"):
                rs, units = rows_units()
                return self._send(200, render_index(rs, thumbs(), units).encode())
            if path.startswith("/session/"):
                try:
                    sub, ses = ratings.parse_session(path[len("/session/"):])
                except ratings.RatingError as exc:
                    return self._send(404, _E(str(exc)).encode())
                rs, units = rows_units()
                k = next((i for i, r in enumerate(rs)
                          if (r["subject"], r["session"]) == (sub, ses)), None)
                if k is None:
                    return self._send(404, b"unknown session")
                row = rs[k]
                zs = {m: robust_z([r.get(m) for r in rs])[k] for m in metric_columns(rs)}
                outliers = {m: z for m, z in zs.items() if z > OUTLIER_Z}
                con = db.connect(warehouse_path, read_only=True)
                try:
                    hist = ratings.rating_history(con, sub, ses)
                finally:
                    con.close()
                page = deriv / f"sub-{sub}" / f"ses-{ses}" / f"sub-{sub}_ses-{ses}_qc.html"
                rel = page.relative_to(deriv).as_posix() if page.is_file() else None
                figs = [p.relative_to(deriv).as_posix() for p in
                        sorted(page.parent.glob("figures/*.svg"))]
                return self._send(200, render_session(row, hist, rel, rater, figures=figs,
                                                      units=units,
                                                      outliers=outliers).encode())
            if path.startswith("/files/"):
                target = (deriv / path[len("/files/"):]).resolve()
                if not target.is_relative_to(deriv) or not target.is_file():
                    return self._send(404, b"not found")
                ctype = {".png": "image/png", ".svg": "image/svg+xml",
                         ".html": "text/html; charset=utf-8"}.get(target.suffix,
                                                                  "application/octet-stream")
                return self._send(200, target.read_bytes(), ctype)
            return self._send(404, b"not found")

        def do_POST(self) -> None:  # noqa: N802
            if urlparse(self.path).path != "/rate":
                return self._send(404, b"not found")
            n = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
            try:
                con = db.connect(warehouse_path)
                try:
                    r = ratings.add_rating(con, form.get("subject", ""),
                                           form.get("session", ""), form.get("rating", ""),
                                           form.get("reason"), form.get("rater") or rater,
                                           "web")
                finally:
                    con.close()
            except ratings.RatingError as exc:
                return self._send(400, _E(str(exc)).encode())
            return self._send(303, b"", extra={
                "Location": f"/session/sub-{quote(r.subject)}_ses-{quote(r.session)}"})

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve(settings: Any, port: int = 8765) -> int:
    """Run the QC web app until Ctrl-C (the ``calcisvd qc serve`` command)."""
    from calcisvd.commands.qc import default_rater

    if not Path(settings.warehouse_path).is_file():
        print(f"calcisvd qc serve: no warehouse at {settings.warehouse_path}; run "
              "`calcisvd load` first")
        return 1
    server = make_server(Path(settings.warehouse_path), Path(settings.derivatives_dir),
                         default_rater(), port)
    print(f"QC pages on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Start ``server`` in a daemon thread (tests, screenshots); stop with ``shutdown()``."""
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t
