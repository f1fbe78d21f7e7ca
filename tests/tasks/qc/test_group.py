"""The one group-page builder: links come from the caller, columns from the rows."""

from __future__ import annotations

from tasks.qc.group import metric_columns, render_index


def _rows():
    return [{"subject": f"s{i}", "session": "M00", "svd_status": "ok", "icac_status": "ok",
             "severity": "mild", "m_wmh_volume_cm3": 1.0 + 0.1 * i,
             "qc_brain_volume_ml": 1400.0 + i, "iqm_FLAIR_snr_wm": 12.0}
            for i in range(6)] + [{"subject": "s9", "session": "M00", "svd_status": "review",
                                   "icac_status": "ok", "severity": "", "m_wmh_volume_cm3": 40.0,
                                   "qc_brain_volume_ml": 1400.0, "iqm_FLAIR_snr_wm": None}]


def test_columns_follow_the_prefixes_in_order():
    assert metric_columns(_rows(), ("m_", "qc_", "iqm_")) == [
        "m_wmh_volume_cm3", "qc_brain_volume_ml", "iqm_FLAIR_snr_wm"]
    assert metric_columns(_rows()) == ["qc_brain_volume_ml", "iqm_FLAIR_snr_wm"]


def test_links_thumbnails_and_outliers_come_from_the_callers_rules():
    page = render_index(_rows(), {"sub-s9_ses-M00": "sub-s9/ses-M00/figures/x.svg"},
                        {"m_wmh_volume_cm3": "cm³"},
                        session_href=lambda lab: f"rel/{lab}.html",
                        file_href=lambda p: f"files/{p}", extra=("severity",),
                        prefixes=("m_",), note="static <page>")
    assert 'href="rel/sub-s9_ses-M00.html"' in page
    assert 'src="files/sub-s9/ses-M00/figures/x.svg"' in page
    assert "m_wmh_volume_cm3 (cm³)" in page and "qc_brain_volume_ml" not in page
    assert page.count('class="o"') == 1  # 40 cm³ among 1.0-1.5: the one outlier point
    assert "static &lt;page&gt;" in page and "/session/" not in page and "rating" not in page
