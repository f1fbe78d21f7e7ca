"""Run the expectation suites of ``expectations/suites/*.json`` with Great Expectations 1.x.

Each suite file is a GX 1.x expectation suite (``name``, ``expectations`` of ``type`` and
``kwargs``) whose ``meta`` says what it checks:

* ``source``: ``{"table": "<name>"}`` (a warehouse table) or ``{"query": "<file>.sql"}``
  (a query in ``expectations/checks/``, for cross-table and distribution rules);
* ``scope``: ``batch`` reads schema ``staging`` when a batch is validated before promotion, and
  ``merged`` reads schema ``merged`` (the staged batch over the curated tables); both read the
  curated tables (schema ``main``) when ``calcisvd validate`` checks what analysts see.

GX 1.x cannot validate DuckDB through SQLAlchemy, so the warehouse fetches every source into a
pandas DataFrame (:func:`warehouse.suite_frames.suite_frames`) and this module validates the
frames through a GX pandas data source; it opens no database connection itself.
The GX file context lives under ``settings.gx_dir`` (``<gx_dir>/gx/``); Data Docs HTML is
rebuilt after each validation at ``<gx_dir>/gx/uncommitted/data_docs/local_site/index.html``
(:func:`docs_index_path`), without remote assets, beside a self-contained
``data-quality-<target>.html`` (``offline_docs.py``).
GX is imported lazily (it takes seconds) and one context is kept per process and directory.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent / "suites"
CHECKS_DIR = Path(__file__).resolve().parent / "checks"
DATASOURCE = "calcisvd"
_CONTEXTS: dict[Path, Any] = {}
_REGISTERED: dict[Path, dict[str, Any]] = {}
_SUITE_PAGES: dict[Path, set[str]] = {}


@dataclass(frozen=True)
class Outcome:
    """The result of one expectation on one source."""

    suite: str
    expectation: str
    column: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed: dict[str, Any]

    def describe(self) -> str:
        """One line naming the suite, the expectation, the column and what was seen."""
        where = f"{self.suite}.{self.expectation}" + (f"({self.column})" if self.column else "")
        seen = self.observed.get("partial_unexpected_list") or self.observed.get("observed_value")
        count = f" {self.unexpected_count} unexpected" if self.unexpected_count else ""
        return f"{where}:{count} e.g. {seen!r}"[:300]


@dataclass
class ValidationReport:
    """All outcomes of one validation (of the staged batch or of the curated tables)."""

    target: str  # staging | curated
    outcomes: list[Outcome] = field(default_factory=list)
    docs_index: Path | None = None
    quality_page: Path | None = None  # self-contained, works offline (offline_docs.py)
    reused: list[str] = field(default_factory=list)  # suites whose outcomes were reused

    @property
    def success(self) -> bool:
        """True when every expectation passed."""
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        """The expectations that failed."""
        return [o for o in self.outcomes if not o.success]

    def failed_names(self) -> list[str]:
        """``suite.expectation(column)`` of every failure."""
        return [f"{o.suite}.{o.expectation}" + (f"({o.column})" if o.column else "")
                for o in self.failures]

    def markdown(self) -> str:
        """A short Markdown summary (used as the Prefect artifact)."""
        n, bad = len(self.outcomes), self.failures
        lines = [f"# Validation of the {self.target} tables: "
                 f"{'PASSED' if not bad else 'FAILED'}", "",
                 f"{n - len(bad)} of {n} expectations passed.", ""]
        suites = sorted({o.suite for o in self.outcomes})
        lines += ["| suite | expectations | failed |", "|---|---|---|"]
        for s in suites:
            mine = [o for o in self.outcomes if o.suite == s]
            lines.append(f"| {s} | {len(mine)} | {sum(not o.success for o in mine)} |")
        if bad:
            lines += ["", "## Failed expectations", ""]
            lines += [f"- `{o.describe()}`" for o in bad]
        if self.reused:
            lines += ["", "Outcomes reused (same suite, same data as a passing validation; "
                      "expectations/outcome_cache.py): " + ", ".join(self.reused)]
        if self.docs_index:
            lines += ["", f"Data Docs: `{self.docs_index}`"]
        if self.quality_page:
            lines += ["", f"Data quality page (offline): `{self.quality_page}`"]
        return "\n".join(lines) + "\n"


def suite_names() -> list[str]:
    """Names of the suites kept in ``expectations/suites/``."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


@cache
def load_suite_spec(name: str) -> dict[str, Any]:
    """The JSON definition of suite ``name``."""
    return json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def docs_index_path(gx_dir: Path) -> Path:
    """Where the Data Docs index page is written."""
    return Path(gx_dir) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def repair_store(gx_dir: Path) -> list[Path]:
    """Remove the GX store files that a killed run left empty or half-written.

    GX writes its JSON stores in place, not atomically. Suites and validation definitions are
    registered again from ``expectations/suites`` on first use, and a lost validation result
    only leaves a gap in the Data Docs history (every outcome is also in the warehouse's
    ``validation_results``). Returns the files removed.
    """
    root = Path(gx_dir) / "gx"
    removed: list[Path] = []
    for pattern in ("expectations/*.json", "validation_definitions/*.json",
                    "checkpoints/*.json", "uncommitted/validations/**/*.json"):
        for path in root.glob(pattern):
            try:
                ok = isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
            except (OSError, ValueError):
                ok = False
            if not ok:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def get_context(gx_dir: Path) -> Any:
    """The GX file context under ``gx_dir`` (created on first use; one per process).

    Store files left broken by a killed run are removed first (:func:`repair_store`); a
    project file that GX cannot read at all is moved aside to ``gx.broken-<time>`` and a new
    context is created (everything in it is derived from the repository and the warehouse).
    """
    gx_dir = Path(gx_dir).resolve()
    if gx_dir not in _CONTEXTS:
        import logging
        import time

        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        gx_dir.mkdir(parents=True, exist_ok=True)
        for path in repair_store(gx_dir):
            logging.getLogger("calcisvd.expectations").warning(
                "removed a damaged GX store file (rebuilt on use): %s", path.name)
        try:
            ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
        except Exception as exc:  # an unreadable great_expectations.yml
            broken = gx_dir / f"gx.broken-{time.strftime('%Y%m%d-%H%M%S')}"
            logging.getLogger("calcisvd.expectations").warning(
                "GX project unreadable (%s); moved to %s and recreated",
                type(exc).__name__, broken.name)
            (gx_dir / "gx").rename(broken)
            ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        _CONTEXTS[gx_dir] = ctx
        _REGISTERED[gx_dir] = {}
    return _CONTEXTS[gx_dir]


def _validation_definition(gx_dir: Path, name: str) -> Any:
    """Register suite ``name`` (from its JSON) with a pandas asset; cached per process."""
    gx_dir = Path(gx_dir).resolve()
    ctx = get_context(gx_dir)
    registered = _REGISTERED[gx_dir]
    if name in registered:
        return registered[name]
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    spec = load_suite_spec(name)
    # all expectations given to the constructor, saved once by add_or_update: add_expectation
    # on a suite whose name the store already holds (every process after the first) rewrites
    # the whole suite file per expectation (176 writes, ~10 s of each load)
    suite = gx.ExpectationSuite(name=name, meta=spec.get("meta", {}), expectations=[
        ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"],
                                 meta=exp.get("meta") or {}).to_domain_obj()
        for exp in spec["expectations"]])
    suite = ctx.suites.add_or_update(suite)
    try:
        ds = ctx.data_sources.get(DATASOURCE)
    except (KeyError, LookupError, ValueError):
        ds = ctx.data_sources.add_pandas(DATASOURCE)
    try:
        asset = ds.get_asset(name)
    except LookupError:
        asset = ds.add_dataframe_asset(name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_def, suite=suite))
    registered[name] = vd
    return vd


def register_suites(gx_dir: Path, names: list[str] | None = None) -> None:
    """Create the GX context under ``gx_dir`` and register the suites ``names`` (default: all)
    in it, as the first validation in this process would (``flows/preload.py`` does it while
    the pipeline quantifies)."""
    for name in names or suite_names():
        _validation_definition(gx_dir, name)


def _normalise(df: Any) -> Any:
    """String columns as ``object`` (GX type lists name numpy/pandas dtypes)."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col].dtype) and out[col].dtype != object:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def validate_frames(frames: dict[str, Any], *, gx_dir: Path, target: str,
                    run_name: str | None = None, build_docs: bool = True,
                    reuse: bool = False) -> ValidationReport:
    """Validate ``{suite name: DataFrame}`` with the named suites; optionally rebuild Data Docs.
    With ``reuse``, a suite that passed on exactly this data before is not run again: its
    stored outcomes are used (:mod:`expectations.outcome_cache`; listed in ``report.reused``,
    and absent from this run's Data Docs pages, present in the results and quality page)."""
    from great_expectations.core.run_identifier import RunIdentifier

    from expectations import outcome_cache

    report = ValidationReport(target=target)
    run_id = RunIdentifier(run_name=f"{target}-{run_name}" if run_name else target)
    cache = outcome_cache.OutcomeCache(outcome_cache.cache_path(gx_dir))
    code = outcome_cache.code_version()
    validated: list[str] = []
    for name, df in frames.items():
        data = _normalise(df)
        key = outcome_cache.frame_key(outcome_cache.suite_text(SUITES_DIR / f"{name}.json"),
                                      load_suite_spec(name), code, data)
        hit = cache.get(key) if reuse else None
        if hit is not None:
            report.outcomes += [Outcome(**o) for o in hit]
            report.reused.append(name)
            continue
        validated.append(name)
        n_before = len(report.outcomes)
        vd = _validation_definition(gx_dir, name)
        batch = {"dataframe": data}
        # a fast pass first; a failing suite is re-run with details (unexpected values)
        result = vd.run(batch_parameters=batch, result_format="BOOLEAN_ONLY", run_id=run_id)
        if not result.success:
            result = vd.run(batch_parameters=batch, result_format="SUMMARY", run_id=run_id)
        for r in result.results:
            kwargs = r.expectation_config.kwargs
            column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or None
            res = _json_safe(dict(r.result or {}))
            if r.exception_info and r.exception_info.get("raised_exception"):
                res["exception"] = str(r.exception_info.get("exception_message"))
            report.outcomes.append(Outcome(
                suite=name, expectation=r.expectation_config.type, column=column,
                success=bool(r.success), element_count=res.get("element_count"),
                unexpected_count=res.get("unexpected_count"), observed=res))
        if result.success:
            cache.put(key, report.outcomes[n_before:])
    cache.save()
    if build_docs:
        from expectations.offline_docs import write_quality_page

        report.docs_index = (build_docs_for_run(gx_dir, run_id.run_name, validated)
                             if validated or not docs_index_path(gx_dir).is_file()
                             else docs_index_path(gx_dir))
        report.quality_page = write_quality_page(report, report.docs_index.parent,
                                                 run_id.run_name)
    return report


def build_docs_for_run(gx_dir: Path, run_name: str, suites: list[str]) -> Path:
    """Render the Data Docs pages of one run (and its suites) and rebuild the index."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    ctx = get_context(gx_dir)
    keys: list[Any] = [k for k in ctx.validation_results_store.list_keys()
                       if getattr(k.run_id, "run_name", None) == run_name]
    # suite pages change only with the suites: render them once per process and context
    rendered = _SUITE_PAGES.setdefault(Path(gx_dir).resolve(), set())
    keys += [ExpectationSuiteIdentifier(name=s) for s in suites if s not in rendered]
    ctx.build_data_docs(resource_identifiers=keys)
    rendered.update(suites)
    from expectations.offline_docs import make_site_offline

    make_site_offline(docs_index_path(gx_dir).parent)  # no CDN/S3 requests: works offline
    return docs_index_path(gx_dir)


def results_frame(report: ValidationReport) -> Any:
    """Rows for the ``validation_results`` table (without run id, target and time)."""
    import pandas as pd

    return pd.DataFrame({
        "suite": pd.array([o.suite for o in report.outcomes], dtype=object),
        "expectation": pd.array([o.expectation for o in report.outcomes], dtype=object),
        "column_name": pd.array([o.column for o in report.outcomes], dtype=object),
        "success": pd.array([o.success for o in report.outcomes], dtype="boolean"),
        "element_count": pd.array([o.element_count for o in report.outcomes], dtype="Int64"),
        "unexpected_count": pd.array([o.unexpected_count for o in report.outcomes],
                                     dtype="Int64"),
        "observed": pd.array([json.dumps(o.observed, sort_keys=True, default=str)
                              for o in report.outcomes], dtype=object),
    })
