"""`calcisvd qc serve` in a real headless chromium: the index sorts, filters, links to the
session page, whose button stores the rating in qc_ratings of a real DuckDB warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tasks.qc.reportlets import mosaic_svg
from tasks.qc.server import make_server, robust_z, serve_in_thread
from tests.tasks.qc.webdriver import Browser
from tests.warehouse.conftest import edit_measures, make_fake_study
from warehouse import db
from warehouse.load import load_derivatives

SHOTS = os.environ.get("CALCISVD_QC_SCREENSHOTS")  # e.g. docs/img: keep the screenshots


@pytest.fixture
def loaded(tmp_path):
    from calcisvd.settings import load_settings

    settings = load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1})
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 8, seed=5)
    for i, sub in enumerate(subjects):
        def qc(doc, i=i):
            doc["svd"]["qc"] = {"brain_volume_ml": 1400.0 + 10 * i, "registration_nmi": 1.08,
                                "nawm_cov": 0.05 + 0.001 * i}
            doc["svd"]["iqms"] = {"FLAIR": {"snr_wm": 12.0 + 0.1 * i, "cnr": 2.0, "cjv": 0.6,
                                            "efc": 0.55, "fber": None}}
            if i == 1:  # a noisy FLAIR: an image-quality outlier
                doc["svd"]["iqms"]["FLAIR"]["snr_wm"] = 3.0
            if i == 0:  # the mask slid into the neck: an outlier and a method review
                doc["svd"]["qc"]["brain_volume_ml"] = 700.0
                doc["svd"]["status"] = "review"
                doc["svd"]["reason"] = "brain volume 700 mL below 900 mL"
        edit_measures(settings.derivatives_dir, sub, "M00", qc)
    assert load_derivatives(settings, build_docs=False, export=False).ok
    # an SVG reportlet of the first session (a phantom: a cube with 0.5 x 0.5 x 5 mm voxels)
    from tests.tasks.qc.test_reportlets import _cube

    img, aff, cube = _cube((0.5, 0.5, 5.0))
    figs = settings.derivatives_dir / f"sub-{subjects[0]}" / "ses-M00" / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    (figs / f"sub-{subjects[0]}_ses-M00_desc-brainmask_qc.svg").write_text(
        mosaic_svg(img, aff, frame=cube, contours={"brain mask": (cube, "#ff3030")},
                   title="phantom: brain mask"))
    return settings, subjects


def test_robust_z_flags_the_outlier():
    z = robust_z([1.0, 1.1, 0.9, 1.0, 5.0, None])
    assert z[4] > 3.5 and max(z[:4]) < 3.5 and z[5] != z[5]
    # most values equal (MAD 0): the mean absolute deviation still finds the odd one out
    z = robust_z([12.5] * 9 + [12.0, 12.2, 12.6, 3.0])
    assert z[-1] > 3.5 and max(z[:-1]) < 3.5
    assert robust_z([1.0, 1.0, 1.0, 1.0]) == [0.0] * 4


def test_rate_by_clicking_in_headless_chromium(loaded, tmp_path):
    settings, subjects = loaded
    server = make_server(settings.warehouse_path, settings.derivatives_dir, "web-user")
    serve_in_thread(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    shots = Path(SHOTS) if SHOTS else tmp_path
    try:
        with Browser() as b:
            b.get(base + "/")
            n_rows = b.script("return document.querySelectorAll('#idx tbody tr').length")
            assert n_rows == 16
            outlier = f"sub-{subjects[0]}_ses-M00"
            assert b.script("return document.getElementById(arguments[0])"
                            ".querySelector('td.out') !== null", outlier)
            assert b.script("return document.querySelectorAll('svg a circle.o').length") >= 1
            b.click("#idx th:nth-child(7)")  # sort by the first metric, twice: ascending
            b.click("#idx th:nth-child(7)")
            first = b.script("return document.querySelector('#idx tbody tr').id")
            assert first == outlier  # 700 mL is the smallest brain volume
            heads = b.script("return [...document.querySelectorAll('#idx th')]"
                             ".map(h => h.innerText)")
            assert "iqm_FLAIR_snr_wm (ratio)" in heads  # image-quality metrics, with units
            noisy = f"sub-{subjects[1]}_ses-M00"
            col = heads.index("iqm_FLAIR_snr_wm (ratio)")
            assert b.script("return document.getElementById(arguments[0]).cells[arguments[1]]"
                            ".className", noisy, col) == "out"
            assert b.script("return [...document.querySelectorAll('div.strip b')]"
                            ".some(e => e.innerText.startsWith('iqm_FLAIR_snr_wm'))")
            b.type("#filter", subjects[3])
            visible = b.script("return [...document.querySelectorAll('#idx tbody tr')]"
                               ".filter(r => r.style.display != 'none').length")
            assert visible == 2
            b.type("#filter", "\ue003" * 20)  # backspace: clear the filter
            b.screenshot(shots / "qc-group-index.png")
            b.script("document.querySelector('svg a circle.o').parentNode"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
            assert b.script("return location.pathname") == f"/session/{outlier}"
            assert b.script("return document.getElementById('decision').innerText") == "review"
            # the SVG reportlet is embedded and drawn (served as image/svg+xml)
            assert b.script("const i = document.querySelector('#reportlets img.reportlet');"
                            "return i !== null && i.complete && i.naturalWidth > 0")
            b.type("#reason", "brain mask in the neck")
            b.click("#rate-fail")
            assert b.wait_for("return document.getElementById('decision').innerText",
                              "fail") == "fail"
            assert "brain mask in the neck" in b.script(
                "return document.getElementById('history').innerText")
            b.screenshot(shots / "qc-session.png")
            b.get(f"{base}/session/{noisy}")
            assert "outlier" in b.script("return [...document.querySelectorAll('#metrics tr')]"
                                         ".find(r => r.innerText.includes('iqm_FLAIR_snr_wm'))"
                                         ".innerText")
    finally:
        server.shutdown()
        server.server_close()
    con = db.connect(settings.warehouse_path, read_only=True)
    try:
        rows = con.execute("SELECT subject, session, rating, reason, rater, source "
                           "FROM qc_ratings").fetchall()
    finally:
        con.close()
    assert rows == [(subjects[0], "M00", "fail", "brain mask in the neck", "web-user", "web")]
    json.dumps(rows)


def test_static_group_page_works_from_disk_in_headless_chromium(loaded, tmp_path):
    """The index quantify writes into the derivatives is the served group page with relative
    links (tasks/qc/group.py): opened as file://, offline, it sorts, filters, shows the
    thumbnail, and a plot point opens the session's static QC page."""
    import re

    from tasks.qc.report import render_session_qc, write_group_index

    settings, subjects = loaded
    for mpath in settings.derivatives_dir.glob("sub-*/ses-*/*_measures.json"):
        page = render_session_qc(json.loads(mpath.read_text()), {})  # as quantify writes it
        mpath.with_name(mpath.name.replace("_measures.json", "_qc.html")).write_text(page)
    index = write_group_index(settings.derivatives_dir)
    page = index.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from the network
    for src in re.findall(r'src="([^"]+)"', page):
        assert (settings.derivatives_dir / src).is_file(), src
    outlier = f"sub-{subjects[0]}_ses-M00"
    with Browser() as b:
        b.get(index.as_uri())
        assert b.script("return document.querySelectorAll('#idx tbody tr').length") == 16
        heads = b.script("return [...document.querySelectorAll('#idx th')].map(h => h.innerText)")
        assert "m_wmh_volume_cm3 (cm³)" in heads and "iqm_FLAIR_snr_wm (ratio)" in heads
        assert "qc_mri_brain_volume_ml (ml)" in heads
        col = heads.index("qc_mri_brain_volume_ml (ml)")
        b.click(f"#idx th:nth-child({col + 1})")
        b.click(f"#idx th:nth-child({col + 1})")
        assert b.script("return document.querySelector('#idx tbody tr').id") == outlier
        assert b.script("const i = document.getElementById(arguments[0]).querySelector("
                        "'img.thumb'); return i !== null && i.complete && i.naturalWidth > 0",
                        outlier)
        b.type("#filter", subjects[3])
        assert b.script("return [...document.querySelectorAll('#idx tbody tr')]"
                        ".filter(r => r.style.display != 'none').length") == 2
        b.type("#filter", "\ue003" * 20)
        if SHOTS:
            b.script("document.querySelector('.wrap').scrollLeft = 0")
            b.screenshot(Path(SHOTS) / "qc-static-index.png")
        b.script("document.querySelector('svg a circle.o').parentNode"
                 ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        assert b.wait_for("return location.pathname.split('/').pop()", f"{outlier}_qc.html") \
            == f"{outlier}_qc.html"
        assert b.script("return location.protocol") == "file:"
        b.click("a[href$='index.html']")  # the session page leads back to the group page
        assert b.wait_for("return document.querySelectorAll('#idx tbody tr').length", 16) == 16
