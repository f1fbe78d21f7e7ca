"""Helpers for the PACS tests and bench/pacs.py: a simulated cohort, a receiver process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def simulate(home: Path, subjects: int = 1, resolution: float = 4.0,
             follow_up: bool = True) -> Path:
    """``calcisvd simulate`` into ``home/drop``; returns the drop folder."""
    env = {**os.environ, "CALCISVD_HOME": str(home)}
    args = [str(BIN / "calcisvd"), "simulate", "--subjects", str(subjects), "--resolution",
            str(resolution)] + ([] if follow_up else ["--no-follow-up"])
    subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=True)
    return home / "drop"


def dicom_files(drop: Path) -> list[Path]:
    """Every file of the simulated export except the clinical CSV (sorted)."""
    return sorted(p for p in drop.rglob("*")
                  if p.is_file() and "clinical" not in p.relative_to(drop).parts)


def share_key_and_clinical(src_home: Path, dst_home: Path) -> None:
    """Give ``dst_home`` the pseudonym key and the clinical CSV of ``src_home``."""
    (dst_home / "secrets").mkdir(parents=True, exist_ok=True)
    key = dst_home / "secrets" / "pseudonym.key"
    shutil.copy2(src_home / "secrets" / "pseudonym.key", key)
    os.chmod(key, 0o600)
    shutil.copytree(src_home / "drop" / "clinical", dst_home / "drop" / "clinical",
                    dirs_exist_ok=True)


def echo(port: int, ae_title: str = "CALCISVD", timeout: float = 5.0) -> int | None:
    """C-ECHO status from 127.0.0.1:port (None when nobody answers)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="ECHOSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = timeout
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo()
    assoc.release()
    return int(status.Status) if status else None


def _listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ReceiverProcess:
    """``calcisvd receive`` as a real process on 127.0.0.1:port, for one home."""

    def __init__(self, home: Path, port: int, ae_title: str = "CALCISVD"):
        self.home, self.port, self.ae_title = home, port, ae_title
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> ReceiverProcess:
        """Start and wait until it answers C-ECHO."""
        env = {**os.environ, "CALCISVD_HOME": str(self.home)}
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home.parent / f"receive-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - the process's stdout/stderr
        self.proc = subprocess.Popen(
            [str(BIN / "calcisvd"), "receive", "--host", "127.0.0.1", "--port", str(self.port),
             "--ae-title", self.ae_title], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"calcisvd receive exited ({self.proc.returncode})")
            if _listening(self.port) and echo(self.port, self.ae_title, timeout=5) == 0:
                return self
            time.sleep(0.2)
        self.kill()
        raise TimeoutError("calcisvd receive did not answer C-ECHO")

    def stop(self) -> int:
        """SIGTERM and wait (the receiver publishes open batches and exits 0)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (nothing runs after it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()
