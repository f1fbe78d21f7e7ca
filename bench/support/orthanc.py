"""A real Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) on 127.0.0.1 free ports.

Used by the tests of :mod:`tasks.pacs` and by ``bench/pacs.py``. Orthanc 1.10 has no bind
address option: it listens on every interface, but refuses HTTP from other hosts
(``RemoteAccessAllowed: false``) and DICOM from anyone but the modalities declared here, which
are all on 127.0.0.1 (``DicomAlwaysAllowStore/Echo: false``, ``DicomCheckModalityHost``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ORTHANC_BIN = "/usr/sbin/Orthanc"
PLUGIN_PACKAGE = "orthanc-dicomweb"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dicomweb_plugin() -> Path:
    """The DICOMweb plugin's shared library, as listed by ``dpkg -L orthanc-dicomweb``."""
    out = subprocess.run(["dpkg", "-L", PLUGIN_PACKAGE], capture_output=True, text=True,
                         check=True).stdout.split()
    libs = [Path(p) for p in out if p.endswith(".so") and "DicomWeb" in p]
    if not libs:
        raise FileNotFoundError(f"no DICOMweb plugin .so in dpkg -L {PLUGIN_PACKAGE}")
    return libs[0]


@dataclass
class Orthanc:
    """A running Orthanc: its URLs and ports, and a few REST helpers."""

    proc: subprocess.Popen
    http_port: int
    dicom_port: int
    aet: str
    workdir: Path

    @property
    def url(self) -> str:
        """REST root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """DICOMweb root (QIDO-RS, WADO-RS)."""
        return f"{self.url}/dicom-web"

    def rest(self, method: str, path: str, body: bytes | dict | None = None,
             timeout: float = 600) -> object:
        """One REST call; JSON in and out."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def upload(self, files: list[Path]) -> list[str]:
        """POST each DICOM file to /instances; returns the Orthanc study ids."""
        studies: set[str] = set()
        for f in files:
            out = self.rest("POST", "/instances", f.read_bytes())
            studies.add(out["ParentStudy"])  # type: ignore[index]
        return sorted(studies)

    def add_modality(self, name: str, aet: str, port: int) -> None:
        """Declare a DICOM peer on 127.0.0.1 (for /modalities/{name}/store)."""
        self.rest("PUT", f"/modalities/{name}", {"AET": aet, "Host": "127.0.0.1", "Port": port,
                                                  "AllowEcho": True, "AllowStore": True})

    def store(self, modality: str, resources: list[str], timeout: float = 600) -> object:
        """C-STORE resources (Orthanc ids) to a declared modality, synchronously."""
        return self.rest("POST", f"/modalities/{modality}/store",
                         {"Resources": resources, "Synchronous": True, "Timeout": 60},
                         timeout=timeout)

    def stop(self) -> None:
        """Terminate Orthanc and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def start_orthanc(workdir: Path, peers: dict[str, tuple[str, int]] | None = None,
                  timeout_s: float = 60.0) -> Orthanc:
    """Start Orthanc with a generated configuration in ``workdir``; wait until it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "calcisvd-test", "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"), "HttpPort": http_port,
        "DicomPort": dicom_port, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False, "DicomCheckModalityHost": True,
        "DicomModalities": {k: [aet, "127.0.0.1", port] for k, (aet, port) in
                            (peers or {}).items()},
        "DicomModalitiesInDatabase": False, "HttpTimeout": 120, "DicomScuTimeout": 30,
        "StorageCompression": False, "OverwriteInstances": False, "StableAge": 1,
        "Plugins": [str(dicomweb_plugin())],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "ConcurrentJobs": 1, "HttpThreadsCount": 8, "LimitFindResults": 0,
    }
    cfg = workdir / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=2))
    log = open(workdir / "orthanc.log", "wb")  # noqa: SIM115 - kept open for the process
    proc = subprocess.Popen([shutil.which("Orthanc") or ORTHANC_BIN, str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                            env={**os.environ, "TCP_NODELAY": "1"})
    server = Orthanc(proc, http_port, dicom_port, "ORTHANC", workdir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited ({proc.returncode}); see {workdir}/orthanc.log")
        try:
            server.rest("GET", "/system", timeout=2)
            server.rest("GET", "/dicom-web/studies", timeout=5)
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"Orthanc did not answer within {timeout_s} s; see {workdir}/orthanc.log")
