"""One typed settings object for every calcisvd command, flow and benchmark.

Precedence (later wins): built-in defaults, then a TOML config file, then ``CALCISVD_*``
environment variables, then command-line flags. The object is built once at the entry point
(:func:`load_settings`) and passed down explicitly; no other module reads the environment.

Every location derives from ``home`` (``CALCISVD_HOME``, default: the repository root) unless
it is set on its own. The layout under ``home``::

    drop/                       incoming scans (DICOM/NIfTI exports) and clinical CSV exports
    bids_dataset/               the BIDS root written by ingestion
    bids_dataset/derivatives/calcisvd/   quantification outputs and QC reports
    quarantine/                 inputs that could not be ingested, each with a JSON reason
    reports/                    analytics reports (HTML, Markdown, CSV)
    var/calcisvd.duckdb         the biomarker warehouse
    var/parquet/                Parquet export of curated tables (read without locks)
    var/work/                   Nipype working directories (reruns skip unchanged work)
    var/logs/                   run logs (no PHI)
    var/prefect/                PREFECT_HOME for the embedded (ephemeral) Prefect server
    var/gx/                     Great Expectations context and Data Docs
    secrets/pseudonym.key       HMAC key for subject pseudonyms (keep outside the dataset)
    secrets/reid_map.tsv        re-identification map (authorised use only)
    simulated_truth/            simulator ground truth; never read by the pipeline
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "CALCISVD_"
CONFIG_FILENAME = "calcisvd.toml"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know: locations, engines and defaults.

    Path fields left as ``None`` are derived from ``home`` by :meth:`resolved`.
    """

    home: Path = REPO_ROOT
    drop_dir: Path | None = None
    bids_dir: Path | None = None
    derivatives_dir: Path | None = None
    quarantine_dir: Path | None = None
    reports_dir: Path | None = None
    var_dir: Path | None = None
    warehouse_path: Path | None = None
    parquet_dir: Path | None = None
    work_dir: Path | None = None
    logs_dir: Path | None = None
    prefect_home: Path | None = None
    gx_dir: Path | None = None
    secrets_dir: Path | None = None
    truth_dir: Path | None = None

    # simulation defaults (demo scale; the paper's scale is 126 subjects at 1 mm)
    sim_subjects: int = 12
    sim_seed: int = 42
    sim_resolution_mm: float = 2.0
    sim_follow_up: bool = True

    # engines
    # Linear: each session node by node in a worker process (n_procs sessions at once);
    # MultiProc: Nipype runs a session's nodes in parallel; SLURM: nodes as SLURM jobs
    nipype_plugin: str = "Linear"
    n_procs: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    task_runner: str = "thread"  # thread | dask
    dask_address: str | None = None  # e.g. tcp://scheduler:8786; None = local cluster

    log_level: str = "INFO"

    # PACS (docs: README "Receiving from a PACS"; validated by tasks/pacs/config.py)
    receive_ae_title: str = "CALCISVD"  # AE title of `calcisvd receive` (1-16 characters)
    receive_host: str = "127.0.0.1"  # listen address; 0.0.0.0 for every interface
    receive_port: int = 11112  # DICOM port of `calcisvd receive` (1-65535)
    dicomweb_url: str | None = None  # DICOMweb root of the PACS, e.g. http://pacs:8042/dicom-web
    pacs_patient_list: Path | None = None  # PatientIDs, one a line (secrets/pacs_patients.txt)
    dicomweb_query: str | None = None  # extra QIDO-RS filters "Key=value;Key=value"
    dicomweb_lookback_days: int = 30  # re-ask this many days before the last pull's date

    def resolved(self) -> Settings:
        """Return a copy with every derived path filled in and made absolute."""
        home = Path(self.home).expanduser().resolve()
        var = Path(self.var_dir or home / "var")
        bids = Path(self.bids_dir or home / "bids_dataset")
        derived: dict[str, Path] = {
            "drop_dir": home / "drop",
            "bids_dir": bids,
            "derivatives_dir": bids / "derivatives" / "calcisvd",
            "quarantine_dir": home / "quarantine",
            "reports_dir": home / "reports",
            "var_dir": var,
            "warehouse_path": var / "calcisvd.duckdb",
            "parquet_dir": var / "parquet",
            "work_dir": var / "work",
            "logs_dir": var / "logs",
            "prefect_home": var / "prefect",
            "gx_dir": var / "gx",
            "secrets_dir": home / "secrets",
            "truth_dir": home / "simulated_truth",
        }
        values: dict[str, Any] = {"home": home}
        for name, default in derived.items():
            current = getattr(self, name)
            values[name] = Path(current).expanduser().resolve() if current else default
        return dataclasses.replace(self, **values)

    # convenience paths -------------------------------------------------------------------
    @property
    def pseudonym_key_path(self) -> Path:
        """HMAC key used to derive subject pseudonyms."""
        return _req(self.secrets_dir) / "pseudonym.key"

    @property
    def reid_map_path(self) -> Path:
        """Re-identification map: hospital IDs to pseudonyms (authorised use only)."""
        return _req(self.secrets_dir) / "reid_map.tsv"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view, saved beside run outputs for provenance."""
        return {f.name: (str(v) if isinstance(v, Path) else v) for f in fields(self)
                for v in [getattr(self, f.name)]}


def _req(p: Path | None) -> Path:
    if p is None:
        raise ValueError("settings not resolved; call Settings.resolved() first")
    return p


def _coerce(name: str, raw: Any) -> Any:
    """Convert a config/env value to the type of field ``name``."""
    ftype = {f.name: f.type for f in fields(Settings)}[name]
    if raw is None:
        return None
    text = str(ftype)
    if "Path" in text:
        return Path(str(raw))
    if text.startswith("bool"):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if text.startswith("int"):
        return int(raw)
    if text.startswith("float"):
        return float(raw)
    return str(raw)


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the resolved settings: defaults < config file < environment < overrides.

    ``config_file`` defaults to ``$CALCISVD_CONFIG`` or ``<home>/calcisvd.toml`` when it exists.
    ``overrides`` are command-line flags; ``None`` values are ignored.
    """
    env = os.environ if env is None else env
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}

    env_values = {
        k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX):].lower() in names
    }
    over = {k: v for k, v in (overrides or {}).items() if v is not None and k in names}
    home = Path(over.get("home") or env_values.get("home") or REPO_ROOT)

    cfg_path = config_file or (Path(env["CALCISVD_CONFIG"]) if env.get("CALCISVD_CONFIG")
                               else home / CONFIG_FILENAME)
    if cfg_path and Path(cfg_path).is_file():
        with open(cfg_path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("calcisvd", data)
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cfg_path}: unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: _coerce(k, v) for k, v in data.items()})
    elif config_file is not None:
        raise FileNotFoundError(f"config file not found: {config_file}")

    values.update({k: _coerce(k, v) for k, v in env_values.items()})
    values.update({k: _coerce(k, v) for k, v in over.items()})
    values.setdefault("home", home)
    return Settings(**values).resolved()
