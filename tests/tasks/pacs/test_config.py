"""Checked PACS settings (tasks/pacs/config.py)."""

from __future__ import annotations

import pytest

from tasks.pacs.config import (
    check_ae_title,
    check_port,
    dicomweb_config,
    parse_filters,
    read_patient_list,
    receiver_config,
)


def test_ae_title_rules():
    assert check_ae_title("  CALCISVD ") == "CALCISVD"
    for bad, why in [("", "empty"), ("   ", "empty"), ("A" * 17, "at most 16"),
                     ("BAD\\AE", "backslash"), ("NAÏVE", "printable ASCII")]:
        with pytest.raises(ValueError, match=why):
            check_ae_title(bad)


def test_port_rules():
    assert check_port("104") == 104
    for bad in (0, 65536, -1, "x"):
        with pytest.raises(ValueError, match="receive_port"):
            check_port(bad)


def test_receiver_config_from_settings(settings):
    cfg = receiver_config(settings)
    assert (cfg.ae_title, cfg.host, cfg.port) == ("CALCISVD", "127.0.0.1", 11112)
    assert cfg.drop_dir == settings.drop_dir
    assert cfg.log_path.parent == settings.logs_dir


def test_settings_from_environment(tmp_path):
    from calcisvd.settings import load_settings

    s = load_settings(env={"CALCISVD_RECEIVE_PORT": "4242", "CALCISVD_RECEIVE_AE_TITLE": "X"},
                      overrides={"home": tmp_path})
    assert receiver_config(s).port == 4242 and receiver_config(s).ae_title == "X"
    with pytest.raises(ValueError, match="at most 16"):
        receiver_config(load_settings(env={"CALCISVD_RECEIVE_AE_TITLE": "Y" * 20},
                                      overrides={"home": tmp_path}))


def test_filters_and_patient_list(tmp_path):
    assert parse_filters("ModalitiesInStudy=CT; StudyDescription=HEAD*") == {
        "ModalitiesInStudy": "CT", "StudyDescription": "HEAD*"}
    assert parse_filters(None) == {}
    with pytest.raises(ValueError, match="not Key=value"):
        parse_filters("oops")
    f = tmp_path / "ids.txt"
    f.write_text("# cohort\nP1\n\nP2  # note\nP1\n")
    assert read_patient_list(f) == ("P1", "P2")


def test_dicomweb_config_requires_url_and_cohort(settings, tmp_path):

    with pytest.raises(ValueError, match="dicomweb_url"):
        dicomweb_config(settings)
    s = settings.replace(dicomweb_url="http://127.0.0.1:1/dicom-web/")
    with pytest.raises(ValueError, match="no cohort to pull"):
        dicomweb_config(s)
    with pytest.raises(ValueError, match="file not found"):
        dicomweb_config(s.replace(pacs_patient_list=tmp_path / "none.txt"))
    settings.secrets_dir.mkdir(parents=True)
    (settings.secrets_dir / "pacs_patients.txt").write_text("P9\n")
    cfg = dicomweb_config(s)
    assert cfg.url == "http://127.0.0.1:1/dicom-web" and cfg.patient_ids == ("P9",)
    assert cfg.state_path == settings.var_dir / "pacs" / "pull_state.json"
