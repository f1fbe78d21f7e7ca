"""`calcisvd audit-phi`: search every output for identifying data (privacy audit)."""

from __future__ import annotations

import argparse
from pathlib import Path

from calcisvd.settings import Settings

HELP = "search every output for identifying data (privacy audit)"
DESCRIPTION = """\
Collect the identifying values of every scan in the drop folder (patient name, patient ID,
birth date, accession number, institution, referring physician, study dates) and the patient
IDs of the clinical CSV files, then search every output for them:

  bids_dataset/ (sidecars, TSVs, NIfTI headers and extensions, derivatives, QC pages),
  var/calcisvd.duckdb and var/parquet/ (decoded values), var/logs/, reports/, var/gx/ (Data
  Docs), var/prefect/ (the Prefect database: logs, parameters, artifacts), var/work/
  (crash reports and the other text files of Nipype's working folders), var/ingest/ (run
  records, ledger) and var/cache/ (cached analysis tables).

Values match as whole tokens only; IDs shorter than 5 and name parts shorter than 4
characters are not searched, nor one-word values that are common words
(calcisvd/common_words.txt: a phantom named HEAD, an ID "dicom"); their multi-word forms
are. Text is also searched with JSON/Python escapes decoded (\\n, \\u00e9), as logs and the
Prefect database store it.

Findings name the file and the kind of value, never the value. Exit code 0 means no finding,
1 means identifying data was found. Inputs (drop/, quarantine/) and secrets/ are not searched.

examples:
  calcisvd audit-phi
  calcisvd audit-phi --extra /some/export/folder
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd audit-phi`."""
    parser.add_argument("--extra", type=Path, nargs="*", default=[],
                        help="more files or folders to search")


def output_roots(settings: Settings) -> list[Path]:
    """Every output location of the platform."""
    var = Path(settings.var_dir)
    return [p for p in (settings.bids_dir, settings.warehouse_path, settings.parquet_dir,
                        settings.logs_dir, settings.reports_dir, settings.gx_dir,
                        settings.prefect_home, var / "ingest", var / "cache")
            if p is not None]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the audit and print the findings."""
    from tasks.privacy.audit import collect_phi, scan, text_files

    tokens = collect_phi(settings.drop_dir)
    roots = output_roots(settings) + text_files(Path(settings.work_dir)) + list(args.extra)
    findings, n_files = scan(roots, tokens,
                             exclude=[settings.secrets_dir, settings.drop_dir,
                                      settings.quarantine_dir])
    print(f"audit-phi: {len(tokens)} identifying values from the inputs, {n_files} output "
          f"files searched, {len(findings)} finding(s)")
    for f in findings[:200]:
        print(f"  {f.category:<20} {f.where:<28} {f.path}")
    return 1 if findings else 0
