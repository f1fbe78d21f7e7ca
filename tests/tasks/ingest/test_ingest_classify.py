"""Series classification from DICOM attributes."""

from __future__ import annotations

import pytest

from tasks.ingest.classify import classify_series

MR, CT = "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.2"


@pytest.mark.parametrize(("kw", "kind"), [
    ({"description": "t1_se_tra"}, "T1w"),
    ({"description": "t2_tse_tra"}, "T2w"),
    ({"description": "t2_tirm_tra_dark-fluid"}, "FLAIR"),
    ({"description": "swi_tra"}, "T2starw"),
    ({"description": "AX T2* GRE"}, "T2starw"),
    # no keywords: timing decides (ms), values of the reference protocol
    ({"repetition_time": 2000, "echo_time": 25, "scanning_sequence": "SE"}, "T1w"),
    ({"repetition_time": 9000, "echo_time": 90, "scanning_sequence": "SE"}, "T2w"),
    ({"repetition_time": 9000, "echo_time": 110, "inversion_time": 2500,
      "scanning_sequence": "SE\\IR"}, "FLAIR"),
    ({"repetition_time": 28, "echo_time": 20, "scanning_sequence": "GR"}, "T2starw"),
])
def test_mr_kinds(kw, kind):
    assert classify_series(modality="MR", sop_class=MR, **kw).kind == kind


def test_ct_and_skips():
    assert classify_series(modality="CT", sop_class=CT, description="Head 1.0").kind == "ct"
    cases = [
        (dict(modality="CT", sop_class=CT, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")),
         "localizer"),
        (dict(modality="CT", sop_class=CT, description="Topogram 0.6 T20s"), "localizer"),
        (dict(modality="SR", sop_class="1.2.840.10008.5.1.4.1.1.88.67"), "non-image"),
        (dict(modality="CT", sop_class=CT, description="Dose Report"), "dose"),
        (dict(modality="OT", sop_class="1.2.840.10008.5.1.4.1.1.7"), "secondary capture"),
        (dict(modality="MR", sop_class=MR, description="ep2d_diff_tra DWI"), "diffusion"),
        (dict(modality="PT", sop_class="1.2.840.10008.5.1.4.1.1.128"), "unsupported modality"),
        (dict(modality="MR", sop_class=MR, repetition_time=500, echo_time=45,
              scanning_sequence="SE"), "not recog"),
    ]
    for kw, words in cases:
        c = classify_series(**kw)
        assert c.kind is None
        assert words in c.reason


def test_simulator_style_descriptions():
    hemo = classify_series(modality="MR", sop_class=MR, description="t2_fl2d_tra_hemo",
                           repetition_time=650, echo_time=20, scanning_sequence="GR")
    assert hemo.kind == "T2starw"
    gre = classify_series(modality="MR", sop_class=MR, repetition_time=650, echo_time=20,
                          scanning_sequence="GR")
    assert gre.kind == "T2starw"
    loc = classify_series(modality="MR", sop_class=MR, description="localizer",
                          image_type=("ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"))
    assert loc.kind is None and "localizer" in loc.reason


def test_fields_first_and_bounded_words():
    """Issue 18: DICOM fields decide before descriptions; words bounded by non-letters."""
    ct = dict(modality="CT", sop_class=CT)
    assert classify_series(**ct, description="Head 1mm iDose 4").kind == "ct"
    assert classify_series(**ct, description="Dose Report").kind is None
    assert "contrast-enhanced" in classify_series(**ct, contrast_agent="Omnipaque").reason
    assert classify_series(**ct, contrast_agent="NONE").kind == "ct"
    mr = dict(modality="MR", sop_class=MR)
    assert "diffusion" in classify_series(**mr, description="dti_tra_12dir").reason
    assert "b-value 1000" in classify_series(**mr, description="ax t2", b_value=1000).reason
    assert classify_series(**mr, description="ax t2", b_value=0).kind == "T2w"
    assert "ImageType ADC" in classify_series(
        **mr, description="t1", image_type=("DERIVED", "PRIMARY", "ADC")).reason
    assert "sequence name" in classify_series(**mr, sequence_name="*ep_b1000t").reason
    assert classify_series(**mr, description="t1_fl3d_fa15").kind == "T1w"  # fa15: flip angle
    # MPRAGE-like without keywords: magnetization prepared, short TE
    assert classify_series(**mr, repetition_time=2300, echo_time=2.3, inversion_time=900,
                           sequence_variant="SK\\SP\\MP", scanning_sequence="GR\\IR"
                           ).kind == "T1w"


def test_site_heuristics_decide_first(tmp_path):
    from tasks.ingest.heuristics import load_heuristics

    rules = ({"datatype": "anat", "suffix": "T2w", "criteria": {"SeriesDescription": "*kopf*"}},
             {"datatype": "perf", "suffix": "asl", "criteria": {
                 "ImageType": ["ORIGINAL", "PRIMARY", "*"], "SeriesDescription": "x*"}})
    c = classify_series(modality="MR", sop_class=MR, description="t1 kopf", heuristics=rules,
                        fields={"SeriesDescription": "T1 KOPF"})
    assert c.kind == "T2w" and c.reason.startswith("site heuristic #1")
    c = classify_series(modality="MR", sop_class=MR, description="xa", heuristics=rules,
                        fields={"SeriesDescription": "xa",
                                "ImageType": ["ORIGINAL", "PRIMARY", "M"]})
    assert c.kind is None and "perf/asl" in c.reason
    assert load_heuristics(None) == ()
    bad = tmp_path / "h.json"
    bad.write_text('{"series": []}')
    with pytest.raises(ValueError, match="dcm2bids"):
        load_heuristics(bad)
