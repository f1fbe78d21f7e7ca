"""Data Docs and the data-quality page work offline: no asset is fetched from the network."""

from __future__ import annotations

import re

from expectations import runner
from expectations.offline_docs import REMOTE_ASSET, strip_remote_assets
from tests.expectations.test_runner import _frame, _svd

#: any src/href to the network, in any tag (stricter than REMOTE_ASSET: for the own page)
_ANY_REMOTE = re.compile(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", re.I)


def test_strip_remote_assets_keeps_content_and_local_assets() -> None:
    page = ('<html><head><link rel="stylesheet" href="https://cdn.example/b.css">'
            '<link href="static/styles/local.css" rel="stylesheet">'
            '<script src="https://code.example/jq.js"></script><script>var x=1;</script>'
            '<style>@import url("https://fonts.example/f.css");</style></head>'
            '<body><img src="https://s3.example/logo.png?id=ctx"><table><tr><td>42</td></tr>'
            '</table><a href="https://docs.example/guide">guide</a></body></html>')
    out = strip_remote_assets(page)
    assert not REMOTE_ASSET.search(out) and "fonts.example" not in out
    assert "static/styles/local.css" in out and "var x=1;" in out and "<td>42</td>" in out
    assert 'href="https://docs.example/guide"' in out  # a link the reader may follow is kept


def test_generated_docs_reference_no_remote_asset(tmp_path) -> None:
    gx_dir = tmp_path / "gx"
    broken = _frame([_svd(), _svd(session="M12", lacune_count=-1)])
    report = runner.validate_frames({"svd_measures": broken}, gx_dir=gx_dir,
                                    target="staging", run_name="offline", build_docs=True)
    assert not report.success
    site = report.docs_index.parent
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3, pages  # index, the suite page, the validation page
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not REMOTE_ASSET.search(text), (page, REMOTE_ASSET.search(text).group(0))
        assert "great-expectations-web-assets" not in text, page
    assert "svd_measures" in report.docs_index.read_text(encoding="utf-8")
    own = report.quality_page.read_text(encoding="utf-8")
    assert report.quality_page.name == "data-quality-staging.html"
    assert not _ANY_REMOTE.search(own)
    assert "FAILED" in own and "lacune_count" in own
    assert "expect_column_values_to_be_between" in own
    assert str(report.quality_page) in report.markdown()
