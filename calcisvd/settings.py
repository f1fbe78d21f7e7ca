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

Values are validated by pydantic (``pydantic-settings`` reads the ``CALCISVD_*`` variables and
the TOML file): a wrong type, an unknown choice or an impossible value stops with the source
(file, variable or flag), the field and what is allowed (:class:`SettingsError`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tasks.ingest.config import IngestConfig
from warehouse.paths import WarehousePaths

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "CALCISVD_"
CONFIG_FILENAME = "calcisvd.toml"

#: the folders of a home (``calcisvd init`` creates them); the rest appear on first use
HOME_LAYOUT: tuple[str, ...] = ("drop", "drop/clinical", "bids_dataset", "quarantine",
                                "reports", "var", "secrets")

PositiveInt = Annotated[int, Field(ge=1)]


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the source, the field and the rule."""


def _default_procs() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything a run needs to know: locations, engines and defaults (frozen, validated).

    Path fields left as ``None`` are derived from ``home`` by :meth:`resolved`. Build it with
    :func:`load_settings` (which layers file, environment and flags); constructing ``Settings``
    directly reads no environment.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True,
                                      validate_default=True, case_sensitive=False)

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
    sim_subjects: PositiveInt = 12
    sim_seed: Annotated[int, Field(ge=0)] = 42
    # a head scan's voxel: 0.2 mm (micro-CT) to 10 mm (beyond that nothing is measurable)
    sim_resolution_mm: Annotated[float, Field(ge=0.2, le=10.0)] = 2.0
    sim_follow_up: bool = True

    # engines
    # Linear: each session node by node in a worker process (n_procs sessions at once);
    # MultiProc: Nipype runs a session's nodes in parallel; SLURM: nodes as SLURM jobs
    nipype_plugin: Literal["Linear", "MultiProc", "SLURM"] = "Linear"
    n_procs: PositiveInt = Field(default_factory=_default_procs)
    # threads of one Nipype node (MultiProc and SLURM reserve this many of n_procs per node).
    # Registration and N4 always run on one thread (byte-identical results on any machine),
    # so more only speeds up the filters whose result does not depend on the thread count
    omp_nthreads: PositiveInt = 1
    task_runner: Literal["thread", "dask"] = "thread"
    dask_address: str | None = None  # e.g. tcp://scheduler:8786; None = local cluster

    # ingest rules for real exports (docs/ingest.md)
    ingest_heuristics: Path | None = None  # dcm2bids-style site config (home/heuristics.json)
    # undated studies of a subject: quarantine them, or take them as the baseline
    ingest_undated: Literal["quarantine", "baseline"] = "quarantine"
    # placeholder PatientIDs (empty, ***, ANONYMOUS): quarantine, or one subject per study
    ingest_placeholder_ids: Literal["quarantine", "study"] = "quarantine"
    # CT for calcium scoring: the thinnest reconstruction no thicker than this (mm)
    ingest_ct_max_thickness_mm: Annotated[float, Field(gt=0.0, le=10.0)] = 3.0
    # a series is ingested only when none of its files changed for this many seconds (0 =
    # whatever is there; docs/ingest.md "Series completeness"); at most one day
    ingest_quiet_s: Annotated[float, Field(ge=0.0, le=86400.0)] = 0.0
    # a DICOM file larger than this (MiB) is quarantined unread, as is a sparse one; 2 GiB:
    # twice an enhanced multi-frame CT of 2,000 512x512 16-bit frames (tasks/ingest/dicom.py)
    ingest_max_file_mib: Annotated[int, Field(ge=1, le=1 << 20)] = 2048

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _node_fits_the_machine(self) -> Settings:
        if self.omp_nthreads > self.n_procs:
            raise ValueError(f"omp_nthreads ({self.omp_nthreads}) is more than n_procs "
                             f"({self.n_procs}): a node asking for more cores than Nipype "
                             "may use would never start")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   **_other: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: :func:`load_settings` layers the sources itself."""
        return (init_settings,)

    # PACS (docs: README "Receiving from a PACS"; validated by tasks/pacs/config.py)
    # AE title of `calcisvd receive` (DICOM PS3.8: 1-16 characters)
    receive_ae_title: str = "CALCISVD"  # validated by tasks/pacs/config.py
    receive_host: str = "127.0.0.1"  # listen address; 0.0.0.0 for every interface
    # DICOM port of `calcisvd receive`
    receive_port: int = 11112  # validated by tasks/pacs/config.py (1-65535)
    dicomweb_url: str | None = None  # DICOMweb root of the PACS, e.g. http://pacs:8042/dicom-web
    pacs_patient_list: Path | None = None  # PatientIDs, one a line (secrets/pacs_patients.txt)
    dicomweb_query: str | None = None  # extra QIDO-RS filters "Key=value;Key=value"
    # re-ask this many days before the last pull's date
    dicomweb_lookback_days: Annotated[int, Field(ge=0)] = 30

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
        return self.replace(**values)

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` applied (the object itself is frozen)."""
        return type(self)(**{**self.model_dump(), **changes})

    def _plain(self, cls: type[T]) -> T:
        """The dataclass ``cls`` filled with the settings (and properties) of its field names:
        the plain values handed to the core at the edge."""
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)})

    def warehouse_paths(self) -> WarehousePaths:
        """The plain locations and worker count the warehouse steps take (warehouse/paths.py)."""
        return self._plain(WarehousePaths)

    def ingest_config(self) -> IngestConfig:
        """The plain folders, files and options ingest takes (tasks/ingest/config.py)."""
        return self._plain(IngestConfig)

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
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.model_dump().items()}


def _req(p: Path | None) -> Path:
    if p is None:
        raise ValueError("settings not resolved; call Settings.resolved() first")
    return p


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' ``CALCISVD_*`` reader over a given mapping (tests pass their own)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._given = {k.lower(): v for k, v in env.items()}
        super().__init__(Settings, case_sensitive=False, env_prefix=ENV_PREFIX)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def _read_config(path: Path) -> dict[str, Any]:
    """The settings of a TOML file (top level or a ``[calcisvd]`` table)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    data = data.get("calcisvd", data)
    unknown = set(data) - set(Settings.model_fields)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(Settings.model_fields)})")
    return dict(data)


def _describe(exc: ValidationError, origin: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        if not err["loc"]:  # a rule across fields: the message names them; say where each is set
            msg = err["msg"].removeprefix("Value error, ")
            named = [f"{f} from {origin.get(f, 'default')}" for f in Settings.model_fields
                     if f"{f} (" in msg]
            lines.append(msg + (f" [{', '.join(named)}]" if named else ""))
            continue
        name = str(err["loc"][0])
        where = origin.get(name, "default")
        lines.append(f"{where}: {name} = {err.get('input')!r}: {err['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the resolved settings: defaults < config file < environment < overrides.

    ``config_file`` defaults to ``$CALCISVD_CONFIG`` or ``<home>/calcisvd.toml`` when it exists.
    ``overrides`` are command-line flags; ``None`` values are ignored. Invalid values raise
    :class:`SettingsError` naming the file, variable or flag, the field and what is allowed.
    """
    env = os.environ if env is None else env
    names = set(Settings.model_fields)
    env_values = {k: v for k, v in _MappingEnvSource(env)().items() if k in names}
    over = {k: v for k, v in (overrides or {}).items() if v is not None and k in names}
    home = Path(over.get("home") or env_values.get("home") or REPO_ROOT)

    cfg_path = config_file or (Path(env["CALCISVD_CONFIG"]) if env.get("CALCISVD_CONFIG")
                               else home / CONFIG_FILENAME)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if cfg_path and Path(cfg_path).is_file():
        file_values = _read_config(Path(cfg_path))
        values.update(file_values)
        origin.update({k: str(cfg_path) for k in file_values})
    elif config_file is not None:
        raise FileNotFoundError(f"config file not found: {config_file}")
    values.update(env_values)
    origin.update({k: f"environment {ENV_PREFIX}{k.upper()}" for k in env_values})
    values.update(over)
    origin.update({k: f"command line ({k})" for k in over})
    values.setdefault("home", home)
    try:
        return Settings(**values).resolved()
    except ValidationError as exc:
        raise SettingsError(_describe(exc, origin)) from None
