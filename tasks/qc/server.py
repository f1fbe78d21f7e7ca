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
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from tasks.qc.group import (  # noqa: F401 (robust_z, metric_columns: used by callers)
    CSS,
    OUTLIER_Z,
    fmt,
    metric_columns,
    robust_z,
    session_label,
)
from tasks.qc.group import render_index as render_group_index

_E = html.escape


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


def render_index(rows: list[dict[str, Any]], thumbs: dict[str, str],
                 units: dict[str, str] | None = None) -> str:
    """The served group index (``units``: metric column -> unit, for the labels): the one
    group-page builder (tasks/qc/group.py) with the server's links, rating and decision."""
    return render_group_index(rows, thumbs, units,
                              session_href=lambda lab: f"/session/{quote(lab)}",
                              file_href=lambda path: f"/files/{quote(path)}")


def render_session(r: dict[str, Any], history: list[dict[str, Any]], qc_page: str | None,
                   rater: str, *, figures: list[str] | None = None,
                   units: dict[str, str] | None = None,
                   outliers: dict[str, float] | None = None) -> str:
    """One session: statuses, reasons, SVG reportlets (``figures``: paths under /files/),
    QC and image-quality metrics (with units; ``outliers``: metric -> robust z above
    :data:`OUTLIER_Z` within the group), history, rating buttons."""
    lab = session_label(r)
    units, outliers = units or {}, outliers or {}
    metrics = "".join(
        f"<tr{' class=out' if k in outliers else ''}><td>{_E(k)}</td><td>{fmt(v)}</td>"
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
            f"{CSS}</style></head><body><p><a href='/'>index</a></p><h1>{_E(lab)}</h1>"
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
    from warehouse import ratings
    from warehouse.resource import Warehouse

    deriv = Path(derivatives_dir).resolve()
    wh = Warehouse(Path(warehouse_path))

    def rows_units() -> tuple[list[dict[str, Any]], dict[str, str]]:
        with wh.read() as con:
            return with_iqms(ratings.session_qc(con), ratings.session_iqms(con))

    def thumbs() -> dict[str, str]:
        from tasks.qc.report import session_thumbnails

        return session_thumbnails(deriv)

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
                with wh.read() as con:
                    hist = ratings.rating_history(con, sub, ses)
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
                with wh.write() as con:
                    r = ratings.add_rating(con, form.get("subject", ""),
                                           form.get("session", ""), form.get("rating", ""),
                                           form.get("reason"), form.get("rater") or rater,
                                           "web")
            except ratings.RatingError as exc:
                return self._send(400, _E(str(exc)).encode())
            return self._send(303, b"", extra={
                "Location": f"/session/sub-{quote(r.subject)}_ses-{quote(r.session)}"})

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve(warehouse_path: Path, derivatives_dir: Path, rater: str, port: int = 8765) -> int:
    """Run the QC web app until Ctrl-C (the ``calcisvd qc serve`` command gives the paths and
    the rater: settings are read there)."""
    if not Path(warehouse_path).is_file():
        print(f"calcisvd qc serve: no warehouse at {warehouse_path}; run `calcisvd load` first")
        return 1
    server = make_server(Path(warehouse_path), Path(derivatives_dir), rater, port)
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
