"""The ``calcisvd`` command line: one subcommand per pipeline stage.

Each subcommand lives in ``calcisvd/commands/<name>.py`` and exposes ``HELP`` (one line),
``DESCRIPTION`` (what it does, what it reads and writes, an example), ``add_arguments(parser)``
and ``run(args, settings) -> int``. Heavy libraries are imported inside ``run`` so that
``calcisvd --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from calcisvd import __version__

COMMANDS: tuple[str, ...] = (
    "init", "simulate", "ingest", "quantify", "load", "validate", "analyze", "run", "status",
    "sql", "audit-phi", "quarantine", "receive", "pull", "warehouse",
    "qc",
)

EPILOG = """\
typical session (a new user, on the embedded defaults):
  calcisvd init --home DIR       # a new home (folders, pseudonym key); or export CALCISVD_HOME
  calcisvd simulate              # write a simulated hospital export into drop/
  calcisvd run                   # ingest -> quantify -> load -> validate -> analyze
  calcisvd status                # what ran, what is waiting, what was quarantined
  calcisvd sql "SELECT * FROM v_baseline_cohort LIMIT 5"

or stage by stage: ingest, quantify, load, validate, analyze.

Locations: everything lives under CALCISVD_HOME (default: the repository root): drop/,
bids_dataset/, bids_dataset/derivatives/calcisvd/, quarantine/, reports/, var/calcisvd.duckdb,
secrets/. Settings come from defaults < calcisvd.toml (or --config) < CALCISVD_* environment
variables < flags. A home that does not exist is refused (except by init and simulate,
which create it). `calcisvd <command> --help` explains each command.

exit codes:
  0  done, nothing failed
  1  something failed: a stage or flow, a session's measurement (CT or MRI), a warehouse
     batch that did not pass validation; `calcisvd status` lists what and why
  2  usage or configuration error (bad flag, invalid setting, missing home)
"""


def _module(name: str):
    return importlib.import_module(f"calcisvd.commands.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="calcisvd",
        description=(
            "calcisvd turns head CT and brain MRI exports into a de-identified BIDS dataset, "
            "measures intracranial artery calcification (ICAC) and small-vessel disease (SVD), "
            "loads the biomarkers into a validated DuckDB warehouse and reports the statistics."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"calcisvd {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument("--home", type=Path, default=None,
                   help="root of all locations (env CALCISVD_HOME; default: the repository root)")
    g.add_argument("--config", type=Path, default=None,
                   help="TOML settings file (default: <home>/calcisvd.toml if present)")
    g.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="logging verbosity (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        mod = _module(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, parents=[common],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``calcisvd`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from calcisvd.env import apply_offline_env
    from calcisvd.logging import setup_logging
    from calcisvd.settings import load_settings

    overrides = {k: v for k, v in vars(args).items() if k not in {"command", "config"}}
    try:
        settings = load_settings(config_file=args.config, overrides=overrides)
    except (ValueError, FileNotFoundError) as exc:
        print(f"calcisvd: configuration error: {exc}", file=sys.stderr)
        return 2
    command = _module(args.command)
    if not settings.home.is_dir() and not getattr(command, "CREATES_HOME", False):
        print(f"calcisvd: home {settings.home} does not exist (from --home or CALCISVD_HOME); "
              f"create it with `calcisvd init --home {settings.home}` or fix the path",
              file=sys.stderr)
        return 2
    from calcisvd.permissions import apply_umask, secure_home
    from calcisvd.resources import EXIT_RESOURCE, as_resource_error

    apply_umask()  # BIDS 0644/0755 whatever the user's umask (see calcisvd/permissions.py)
    try:
        if settings.home.is_dir():
            secure_home(settings)
        apply_offline_env(prefect_home=str(settings.prefect_home))
        setup_logging(settings)
        if getattr(command, "RUNS_FLOWS", False) or args.command == "status":
            from calcisvd.resources import check_writable

            check_writable(Path(settings.prefect_home))  # Prefect's database lives there
        if getattr(command, "RUNS_FLOWS", False):  # flow runs in the foreground of this process
            from calcisvd.orchestration import foreground_flow_runs
            from calcisvd.watchdog import children_die_with_me  # no orphans after a SIGKILL
            from flows.common import stage_tags  # runs tagged calcisvd + stage: alerts see them

            with children_die_with_me(), foreground_flow_runs(), \
                    stage_tags(_STAGE.get(args.command, args.command)):
                return int(command.run(args, settings) or 0)
        return int(command.run(args, settings) or 0)
    except Exception as exc:  # a full disk or a read-only home: one sentence, no traceback
        err = as_resource_error(exc)
        if err is None:
            raise
        print(f"calcisvd {args.command}: {err}", file=sys.stderr)
        return EXIT_RESOURCE


#: the stage (flow) a command runs, where its name differs
_STAGE = {"run": "pipeline"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
