"""Operations benchmark: no-op `calcisvd run`, `calcisvd status`, and the rerun after one new
follow-up, as an operator runs them (each a fresh `calcisvd` process, wall time).

On a fresh home (``calcisvd simulate``, default 12 patients at 2 mm, one follow-up visit held
out of the drop folder):

1. the first `calcisvd run` (embedded Prefect API), for reference;
2. no-op `calcisvd run` with the embedded API (median of ``--repeats``);
3. `calcisvd status` with the embedded run history (median);
4. a `prefect server start` on 127.0.0.1 (free port, its own PREFECT_HOME), then no-op
   `calcisvd run` and `calcisvd status` with PREFECT_API_URL pointing at it (medians);
5. the held-out follow-up put back, and `calcisvd run` again (embedded): the rerun after one
   new follow-up.

With ``--rerun-server``: the same rerun against a running `prefect server` (the deployed mode),
added to operations.json as ``rerun_after_followup_server``.

With ``--deployed-only`` (a separate home of ``--deployed-subjects`` patients): the service as
deployed (`prefect deploy --all`, a process worker): the runs the scheduler created, and the
time from a follow-up landing in the drop folder to its row in the warehouse.

Targets (issue 19): no-op run <= 10 s against a running server, <= 25 s embedded; status
<= 2 s; rerun after one new follow-up <= 60 s. The stage timings `calcisvd run` prints are
kept for each run. Writes ``bench/results/operations.json`` and prints a summary.
Run: ``nice -n 10 .venv/bin/python -m bench.operations [--subjects N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.pipeline import _hold_out_one_followup, _put_back

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
TARGETS = {"noop_run_server_s": 10.0, "noop_run_embedded_s": 25.0, "status_embedded_s": 2.0,
           "status_server_s": 2.0, "rerun_after_followup_s": 60.0}
_STAGE_RE = re.compile(r"^\s+(ingest|quantify|load|validate|analyze)\s+([\d.]+) s$")
_SKIP_RE = re.compile(r"^\s+(\w+): skipped, inputs unchanged", re.M)


def _env(home: Path, api: str | None = None, prefect_home: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CALCISVD_"))}
    env.update(CALCISVD_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1")
    if api:
        env["PREFECT_API_URL"] = api
    if prefect_home:
        env["PREFECT_HOME"] = str(prefect_home)
    return env


#: CPU seconds (user + system) of the last process :func:`timed` ran, with its children
LAST_CPU_S: list[float] = [0.0]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(args: list[str], env: dict) -> tuple[float, str, int]:
    """Wall seconds, stdout and exit code of one `calcisvd` process (its CPU seconds, the
    temporary Prefect server included, in ``LAST_CPU_S[0]``)."""
    c0, t0 = _children_cpu(), time.perf_counter()
    res = subprocess.run([str(BIN / "calcisvd"), *args], env=env, capture_output=True,
                         text=True, cwd=REPO)
    LAST_CPU_S[0] = _children_cpu() - c0
    return time.perf_counter() - t0, res.stdout + res.stderr, res.returncode


def stages(output: str) -> dict[str, float]:
    """The stage timings `calcisvd run` printed."""
    out = {}
    for line in output.splitlines():
        m = _STAGE_RE.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def repeat(args: list[str], env: dict, n: int) -> dict[str, Any]:
    """Run ``n`` times: every wall time, the median, the stage timings of the last run."""
    walls, cpus, loads, last, codes = [], [], [], "", []
    for _ in range(n):
        loads.append(round(os.getloadavg()[0], 2))
        sec, last, rc = timed(args, env)
        walls.append(round(sec, 2))
        cpus.append(round(LAST_CPU_S[0], 2))
        codes.append(rc)
    return {"seconds": walls, "median_s": round(statistics.median(walls), 2),
            "cpu_s": cpus, "median_cpu_s": round(statistics.median(cpus), 2),
            "load_avg_before": loads, "exit_codes": codes, "stages_s": stages(last),
            "skipped": sorted(m.group(1) for m in _SKIP_RE.finditer(last))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, extra_env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen, str, float]:
    """`prefect server start` on a free 127.0.0.1 port; returns (process, API URL, seconds)."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(_env(root, prefect_home=root / "prefect-server"), **(extra_env or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while time.perf_counter() - t0 < 180:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, api, time.perf_counter() - t0
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise TimeoutError("prefect server did not start in 180 s")


def _stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM a process this bench started; SIGKILL when it has not ended in ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def measure_noop(work: Path, home: Path, repeats: int, result: dict[str, Any]) -> None:
    """No-op runs and status, embedded then against a server started here."""
    env = _env(home)
    result["noop_run_embedded"] = repeat(["run"], env, repeats)
    result["status_embedded"] = repeat(["status"], env, repeats)
    print(f"no-op run (embedded): {result['noop_run_embedded']}", flush=True)
    proc, api, up = start_server(work)
    try:
        result["server_start_s"] = round(up, 1)
        senv = _env(home, api=api)
        timed(["run", "--stages", "ingest"], senv)  # the server's first requests (migrations)
        result["noop_run_server"] = repeat(["run"], senv, repeats)
        result["status_server"] = repeat(["status"], senv, repeats)
        _sec, out, _rc = timed(["status"], senv)
        result["status_server_output_head"] = out.splitlines()[:12]
        print(f"no-op run (server): {result['noop_run_server']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def noop_only(work: Path, repeats: int) -> dict[str, Any]:
    """Re-measure the no-op run and status on ``work/home`` and update operations.json."""
    path = RESULTS / "operations.json"
    result = json.loads(path.read_text())
    home = work / "home"
    result.setdefault("noop_earlier", {k: result[k] for k in (
        "noop_run_embedded", "noop_run_server", "status_embedded", "status_server")})
    timed(["run"], _env(home))  # settle: stages whose code changed run once
    result["noop_load_avg_before"] = round(os.getloadavg()[0], 2)
    measure_noop(work, home, repeats, result)
    result["noop_load_avg_after"] = round(os.getloadavg()[0], 2)
    _summarise(result)
    path.write_text(json.dumps(result, indent=2) + "\n")
    _print_summary(result)
    return result


def reuse_home(work: Path, repeats: int, subjects: int, resolution: float) -> dict[str, Any]:
    """On ``work/home`` (processed by a first `calcisvd run`, one follow-up held out in
    ``work/held-out``, as the full bench leaves it before its no-op step): no-op runs and
    status (embedded and server), then the held-out follow-up put back and `calcisvd run`.
    Replaces the main figures of operations.json; the previous ones go under ``earlier``."""
    path = RESULTS / "operations.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    home = work / "home"
    result: dict[str, Any] = {
        "size": {"subjects": subjects, "resolution_mm": resolution, "repeats": repeats,
                 "cpus": os.cpu_count(), "sessions_before_followup": len(
                     list((home / "bids_dataset").glob("sub-*/ses-*")))},
        "targets_s": TARGETS, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_note": "cpu_s: user + system seconds of the calcisvd process and its children "
                    "(Prefect's temporary server, Nipype workers); wall is what an operator "
                    "waits, on a shared 2-core machine"}
    timed(["run"], _env(home))  # settle: stages whose code changed since the home's last run
    result["settle_cpu_s"] = round(LAST_CPU_S[0], 2)
    result["load_avg_before"] = round(os.getloadavg()[0], 2)
    measure_noop(work, home, repeats, result)
    _put_back(work / "held-out", home / "drop")
    load0 = round(os.getloadavg()[0], 2)
    sec, out, rc = timed(["run"], _env(home))
    assert rc == 0, out[-3000:]
    result["rerun_after_followup"] = {"seconds": round(sec, 1), "cpu_s": round(LAST_CPU_S[0], 1),
                                      "load_avg_before": load0,
                                      "load_avg_after": round(os.getloadavg()[0], 2),
                                      "stages_s": stages(out)}
    result["load_avg_after"] = round(os.getloadavg()[0], 2)
    _summarise(result)
    result["earlier"] = {k: v for k, v in old.items() if k not in ("deployed", "earlier")}
    if "deployed" in old:
        result["deployed"] = old["deployed"]
    path.write_text(json.dumps(result, indent=2) + "\n")
    _print_summary(result)
    return result


def _summarise(result: dict[str, Any]) -> None:
    got = {"noop_run_server_s": result["noop_run_server"]["median_s"],
           "noop_run_embedded_s": result["noop_run_embedded"]["median_s"],
           "status_embedded_s": result["status_embedded"]["median_s"],
           "status_server_s": result["status_server"]["median_s"],
           "rerun_after_followup_s": result["rerun_after_followup"]["seconds"]}
    result["summary_s"] = got
    result["summary_cpu_s"] = {
        k: v for k, v in {
            "noop_run_server_s": result["noop_run_server"].get("median_cpu_s"),
            "noop_run_embedded_s": result["noop_run_embedded"].get("median_cpu_s"),
            "status_embedded_s": result["status_embedded"].get("median_cpu_s"),
            "status_server_s": result["status_server"].get("median_cpu_s"),
            "rerun_after_followup_s": result["rerun_after_followup"].get("cpu_s")}.items()
        if v is not None}
    result["meets_target"] = {k: got[k] <= TARGETS[k] for k in TARGETS}


def _print_summary(result: dict[str, Any]) -> None:
    size = result["size"]
    load = result.get("noop_load_avg_before", result["load_avg_before"])
    print(f"\noperations ({size['subjects']} patients at {size['resolution_mm']:g} mm, median "
          f"of {size['repeats']}; load average {load} on {os.cpu_count()} CPUs):")
    for k, v in result["summary_s"].items():
        cpu = result.get("summary_cpu_s", {}).get(k)
        print(f"  {k:<24} {v:7.2f} s" + (f" ({cpu:.2f} CPU s)" if cpu is not None else "")
              + f"  (target <= {TARGETS[k]:g} s: "
              f"{'ok' if result['meets_target'][k] else 'MISSED'})")


def rerun_on_server(work: Path, subjects: int, resolution: float, seed: int) -> dict[str, Any]:
    """The rerun after one new follow-up against a running Prefect server (the deployed mode).

    Makes ``work/home`` (simulate, hold one follow-up out in ``work/held-out``, first run)
    unless it exists with the follow-up still held out; starts a server, settles (the first
    requests run its migrations), puts the follow-up back and times `calcisvd run` with
    PREFECT_API_URL set. Adds ``rerun_after_followup_server`` to operations.json."""
    home = work / "home"
    if not (home.is_dir() and (work / "held-out").is_dir()):
        shutil.rmtree(home, ignore_errors=True)
        sec, out, rc = timed(["simulate", "--subjects", str(subjects), "--seed", str(seed),
                              "--resolution", str(resolution)], _env(home))
        assert rc == 0, out
        _hold_out_one_followup(home / "drop", work / "held-out")
        sec, out, rc = timed(["run"], _env(home))
        assert rc == 0, out[-3000:]
    proc, api, _up = start_server(work)
    try:
        senv = _env(home, api)
        timed(["run"], senv)  # settle: migrations, stages whose code changed
        _put_back(work / "held-out", home / "drop")
        load0 = round(os.getloadavg()[0], 2)
        sec, out, rc = timed(["run"], senv)
        assert rc == 0, out[-3000:]
        got = {"seconds": round(sec, 1), "cpu_s": round(LAST_CPU_S[0], 1),
               "load_avg_before": load0, "load_avg_after": round(os.getloadavg()[0], 2),
               "stages_s": stages(out), "subjects": subjects, "resolution_mm": resolution,
               "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "target_s": TARGETS["rerun_after_followup_s"],
               "meets_target": sec <= TARGETS["rerun_after_followup_s"]}
    finally:
        _stop(proc)
    path = RESULTS / "operations.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    result["rerun_after_followup_server"] = got
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"rerun after one follow-up (server): {got}", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the results written to JSON."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subjects", type=int, default=12)
    p.add_argument("--resolution", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", type=Path, default=None,
                   help="working folder (default: a temporary one, removed at the end)")
    p.add_argument("--deployed-only", action="store_true",
                   help="measure only the deployed service (scheduler runs, follow-up to "
                        "warehouse row) and add it to operations.json")
    p.add_argument("--deployed-subjects", type=int, default=3)
    p.add_argument("--noop-only", action="store_true",
                   help="re-measure only the no-op runs and status on the processed home "
                        "under --work (after a code change) and update operations.json")
    p.add_argument("--reuse-home", action="store_true",
                   help="measure no-op runs, status and the rerun after the held-out "
                        "follow-up on the processed home under --work (work/home, "
                        "work/held-out) instead of simulating and processing a new one")
    p.add_argument("--rerun-server", action="store_true",
                   help="measure only the rerun after one new follow-up against a running "
                        "Prefect server (makes work/home first when needed) and add it to "
                        "operations.json")
    args = p.parse_args(argv)
    if args.rerun_server:
        return rerun_on_server(args.work or Path(tempfile.mkdtemp(prefix="calcisvd-ops-")),
                               args.subjects, args.resolution, args.seed)
    if args.reuse_home:
        return reuse_home(args.work, args.repeats, args.subjects, args.resolution)
    if args.noop_only:
        return noop_only(args.work, args.repeats)
    if args.deployed_only:
        work = args.work or Path(tempfile.mkdtemp(prefix="calcisvd-ops-"))
        try:
            from bench.operations_deployed import measure_deployed

            dep = measure_deployed(work, args.deployed_subjects, args.resolution, args.seed)
        finally:
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
        path = RESULTS / "operations.json"
        result = json.loads(path.read_text()) if path.is_file() else {}
        result["deployed"] = dep
        result.pop("not_measured", None)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(dep, indent=2))
        return result

    work = args.work or Path(tempfile.mkdtemp(prefix="calcisvd-ops-"))
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = _env(home)
    result: dict[str, Any] = {
        "size": {"subjects": args.subjects, "resolution_mm": args.resolution,
                 "seed": args.seed, "repeats": args.repeats, "cpus": os.cpu_count()},
        "load_avg_before": round(os.getloadavg()[0], 2), "targets_s": TARGETS}
    try:
        sec, out, rc = timed(["simulate", "--subjects", str(args.subjects), "--seed",
                              str(args.seed), "--resolution", str(args.resolution)], env)
        assert rc == 0, out
        result["simulate_s"] = round(sec, 1)
        held = _hold_out_one_followup(home / "drop", work / "held-out")
        sec, out, rc = timed(["run"], env)
        assert rc == 0, out[-3000:]
        result["first_run_s"] = {"seconds": round(sec, 1), "stages_s": stages(out)}
        print(f"first run: {sec:.1f} s {stages(out)}", flush=True)

        measure_noop(work, home, args.repeats, result)

        _put_back(work / "held-out", home / "drop")
        sec, out, rc = timed(["run"], env)
        assert rc == 0, out[-3000:]
        result["rerun_after_followup"] = {"seconds": round(sec, 1), "stages_s": stages(out),
                                          "held_out_studies": len((held or "").split(","))}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    _summarise(result)
    if "deployed" not in result:
        result["not_measured"] = (
            "time from a follow-up landing to its warehouse row under the deployed service, "
            "and scheduler runs created: run with --deployed-only (adds 'deployed')")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "operations.json").write_text(json.dumps(result, indent=2) + "\n")
    _print_summary(result)
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
