"""Clinical CSV exports: encodings, held-back rows, empty files, several exports (issue 23
item 2, issue 24 item 7, issue 18 item 8)."""

from __future__ import annotations

import codecs
import json

import pytest

from tasks.ingest.clinical import (
    ClinicalFileError,
    decode_bytes,
    read_clinical_exports,
    read_clinical_file,
)

HEADER = "patient_id,age,sex,smoking,hypertension,diabetes,hyperlipidaemia,heart_disease," \
         "prior_stroke\n"
ROWS = "HOSP0001,64,M,yes,no,no,yes,no,no\nMÜLLER7,71,F,no,yes,no,no,no,no\n"


@pytest.mark.parametrize("encoding,bom", [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b""), ("latin-1", b""),
    ("cp1252", b""),
])
def test_every_common_encoding_is_read(tmp_path, encoding, bom):
    path = tmp_path / "clinical_20240101.csv"
    path.write_bytes(bom + (HEADER + ROWS).encode(encoding))
    rows, held, repeated = read_clinical_file(path)
    assert held == [] and repeated == 0
    assert rows["HOSP0001"][1]["age"] == "64"
    assert rows["MÜLLER7"][1] == {"age": "71", "sex": "F", "smoking": "no",
                                  "hypertension": "yes", "diabetes": "no",
                                  "hyperlipidaemia": "no", "heart_disease": "no",
                                  "prior_stroke": "no"}


def test_semicolon_delimiter_and_id_normalisation(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes((HEADER + ROWS).replace(",", ";").replace("HOSP0001", " hosp0001 ")
                     .encode("cp1252"))
    rows, _, _ = read_clinical_file(path)
    assert set(rows) == {"HOSP0001", "MÜLLER7"}


@pytest.mark.parametrize("data,why", [
    (b"", "empty file"), (HEADER.encode(), "no rows"),
    (b"\x00\x01\x02\x03binary\xff\xfe\x00" * 10, "binary content"),
    (b"name,age\nNOVAK^WEI,64\n", "no patient_id column"),
])
def test_an_unusable_file_is_an_error_that_quotes_no_content(tmp_path, data, why):
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    with pytest.raises(ClinicalFileError) as exc:
        read_clinical_file(path)
    assert why in str(exc.value)
    assert "NOVAK" not in str(exc.value) and "64" not in str(exc.value)


def test_decode_never_returns_control_characters():
    with pytest.raises(ClinicalFileError):
        decode_bytes(codecs.BOM_UTF8 + b"a,b\n\x00\x00")


def test_duplicates_and_blank_rows_are_held_back(tmp_path):
    path = tmp_path / "clinical_20240101.csv"
    path.write_text(HEADER
                    + "HOSP0001,64,M,yes,no,no,yes,no,no\n"  # line 2
                    + "HOSP0002,70,F,no,no,no,no,no,no\n"  # line 3
                    + "HOSP0001,46,F,yes,no,no,yes,no,no\n"  # line 4: conflicts with 2
                    + ",,,,,,,,\n"  # line 5: blank
                    + "HOSP0003,,,,,,,,\n"  # line 6: covariates blank
                    + "HOSP0002,70,F,no,no,no,no,no,no\n"  # line 7: identical repeat
                    + ",55,M,no,no,no,no,no,no\n")  # line 8: no id
    rows, held, repeated = read_clinical_file(path)
    assert set(rows) == {"HOSP0002"} and repeated == 1
    assert [(h.row, h.reason.split(" ")[0]) for h in held] == [
        (2, "patient"), (4, "patient"), (5, "blank"), (6, "every"), (8, "no")]
    assert all("HOSP" not in h.reason for h in held)


def test_every_export_is_read_oldest_first_and_changes_are_reported(tmp_path):
    (tmp_path / "clinical_20240101.csv").write_text(
        HEADER + "HOSP0001,64,M,yes,no,no,yes,no,no\nHOSP0002,70,F,no,no,no,no,no,no\n")
    (tmp_path / "clinical_20250101.csv").write_text(
        HEADER + "HOSP0001,65,M,yes,no,no,yes,no,no\n")
    (tmp_path / "clinical_20260101.csv").write_bytes(b"")  # sorts last: an error, not a wipe
    files = sorted(tmp_path.glob("*.csv"))
    res = read_clinical_exports(files)
    assert res.records["HOSP0001"]["age"] == "65"
    assert res.records["HOSP0002"]["age"] == "70"
    assert res.errors == {"clinical_20260101.csv": "empty file (0 bytes)"}
    assert res.conflicts == [{"file": "clinical_20250101.csv", "row": 2, "columns": ["age"],
                              "resolution": "the later export's values are used"}]
    json.dumps(res.report())  # serialisable


def test_ingest_quarantines_a_bad_csv_and_keeps_the_covariates(tmp_path):
    from tasks.ingest.pipeline import clinical_report_path, run_ingest
    from tests.tasks.ingest.ingest_fixtures import make_settings

    settings = make_settings(tmp_path / "home")
    clinical = settings.drop_dir / "clinical"
    clinical.mkdir(parents=True)
    (clinical / "clinical_20240101.csv").write_bytes(
        codecs.BOM_UTF16_LE + (HEADER + "HOSP0001,64,M,yes,no,no,yes,no,no\n"
                               + "HOSP0001,46,F,yes,no,no,yes,no,no\n").encode("utf-16-le"))
    (clinical / "clinical_20240102.csv").write_bytes(b"\x00\xffNOVAK^WEI,H1512204\x00" * 8)
    summary = run_ingest(settings)
    report = json.loads(clinical_report_path(settings).read_text())
    assert summary["clinical"]["errors"] == report["errors"]
    # named by its path token (an export's name may carry identifiers), as in the logs
    from calcisvd.redact import path_token

    assert list(report["errors"]) == [path_token("clinical/clinical_20240102.csv")]
    assert [h["row"] for h in report["held_rows"]] == [2, 3]
    assert summary["quarantine_reasons"] == {"clinical": 1}
    reason = next(settings.quarantine_dir.glob("*/reason.json")).read_text()
    assert "NOVAK" not in reason and "H1512204" not in reason
    assert "NOVAK" not in json.dumps(summary)
