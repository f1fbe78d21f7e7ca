"""Data-quality pages that work offline (a hospital network without internet).

GX's Data Docs load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs and a
logo from an S3 bucket (with the data context's id in the query string). Offline those pages
wait on the network and lose their styling and scripts, and online the logo request tells a
third party that the docs were opened. Two remedies, both run after every Data Docs build:

* :func:`make_site_offline` removes every remote asset reference (``<script src=http..>``,
  ``<link href=http..>``, ``<img src=http..>``, CSS ``url(http..)``) from the site's HTML;
  the pages keep their content (static tables, GX's local stylesheet in ``static/``);
* :func:`write_quality_page` writes ``data-quality-<target>.html``, one self-contained page
  (inline CSS, no script, no remote reference) with every expectation of the validation.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path
from typing import Any

#: a tag that loads an asset from the network (script, stylesheet/icon link, image, iframe)
_REMOTE_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*['\"]?(?:https?:)?//[^>]*>\s*</script\s*>", re.I | re.S)
_REMOTE_TAG = re.compile(
    r"<(?:link|img|iframe|source|embed)\b[^>]*\b(?:src|href)\s*=\s*['\"]?(?:https?:)?//[^>]*>",
    re.I | re.S)
#: how a test or an operator finds a remote asset left in a page (plain links are fine)
REMOTE_ASSET = re.compile(
    r"<(?:script|link|img|iframe|source|embed)\b[^>]*\b(?:src|href)\s*=\s*['\"]?"
    r"(?:https?:)?//|url\(\s*['\"]?(?:https?:)?//", re.I | re.S)
_CSS_URL = re.compile(r"@import\s+url\(\s*['\"]?(?:https?:)?//[^)]*\)\s*;?", re.I)
_CSS_REMOTE_URL = re.compile(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", re.I)


def strip_remote_assets(page: str) -> str:
    """``page`` without tags that load scripts, styles or images from the network."""
    page = _REMOTE_SCRIPT.sub("", page)
    page = _REMOTE_TAG.sub("", page)
    page = _CSS_URL.sub("", page)
    return _CSS_REMOTE_URL.sub("none", page)  # e.g. a background image from S3


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_site_offline(site_dir: Path) -> list[Path]:
    """Strip remote assets from every HTML page of ``site_dir`` that has any; pages changed."""
    changed = []
    for page in sorted(Path(site_dir).rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        if not REMOTE_ASSET.search(text):
            continue
        _write_atomic(page, strip_remote_assets(text))
        changed.append(page)
    return changed


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
code{font-size:.85rem;white-space:pre-wrap;word-break:break-all}
"""


def _seen(observed: dict[str, Any]) -> str:
    seen = observed.get("partial_unexpected_list") or observed.get("observed_value")
    return "" if seen is None else repr(seen)[:300]


def quality_page_html(report: Any, run_name: str | None = None) -> str:
    """A self-contained HTML page of a :class:`expectations.runner.ValidationReport`."""
    esc = html.escape
    n, bad = len(report.outcomes), len(report.failures)
    verdict = "PASSED" if not bad else "FAILED"
    title = f"calcisvd data quality: {report.target} tables {verdict}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<p>{n - bad} of {n} expectations passed"
             + (f" (validation run <code>{esc(run_name)}</code>)" if run_name else "")
             + ". GX's full Data Docs: <a href=\"index.html\">index.html</a>.</p>"]
    for suite in sorted({o.suite for o in report.outcomes}):
        mine = [o for o in report.outcomes if o.suite == suite]
        parts += [f"<h2>{esc(suite)}: {sum(o.success for o in mine)} of {len(mine)} passed</h2>",
                  "<table><tr><th>result</th><th>expectation</th><th>column</th>"
                  "<th>rows</th><th>unexpected</th><th>seen</th></tr>"]
        for o in sorted(mine, key=lambda o: (o.success, o.expectation, o.column or "")):
            cls, word = ("ok", "passed") if o.success else ("bad", "FAILED")
            rows = "" if o.element_count is None else o.element_count
            unexpected = "" if o.unexpected_count is None else o.unexpected_count
            parts.append(
                f'<tr><td class="{cls}">{word}</td><td>{esc(o.expectation)}</td>'
                f"<td>{esc(o.column or '')}</td><td>{rows}</td><td>{unexpected}</td>"
                f"<td><code>{esc(_seen(o.observed))}</code></td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_quality_page(report: Any, site_dir: Path, run_name: str | None = None) -> Path:
    """Write ``<site_dir>/data-quality-<target>.html`` (atomically); its path."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    path = site_dir / f"data-quality-{report.target}.html"
    _write_atomic(path, quality_page_html(report, run_name))
    return path
