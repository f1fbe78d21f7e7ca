"""`calcisvd receive`: a DICOM Storage SCP that writes received scans into drop/."""

from __future__ import annotations

import argparse

from calcisvd.redact import redact
from calcisvd.settings import Settings

HELP = "receive scans from a PACS or scanner over DICOM (C-STORE) into drop/"
DESCRIPTION = """Receive scans over the DICOM network (a Storage SCP) into drop/.

Listens on receive_host:receive_port (default 127.0.0.1:11112) as the AE title
receive_ae_title (default CALCISVD); accepts every storage SOP class and transfer syntax
(instances are stored as sent) and answers C-ECHO. Each instance is written atomically
under drop/.incoming/ (hidden from ingestion) before its success status is sent; when the
association ends, its files move into drop/pacs/<batch>/ in one rename, so `calcisvd
ingest` never sees half a transfer. Runs until SIGTERM/SIGINT (a service: see
ops/calcisvd-receive.service). Associations are logged without patient data to
var/logs/receive-associations.jsonl.

Examples:
  calcisvd receive                                  # 127.0.0.1:11112, AE CALCISVD
  calcisvd receive --host 0.0.0.0 --port 104 --ae-title ICACSTORE
  CALCISVD_RECEIVE_PORT=11112 calcisvd receive
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd receive` (each overrides its setting)."""
    parser.add_argument("--ae-title", default=None, help="AE title (setting receive_ae_title)")
    parser.add_argument("--host", default=None,
                        help="listen address (setting receive_host; 0.0.0.0 = all)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (setting receive_port)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; exit code 0, or 2 for invalid settings."""
    import signal
    import sys
    import threading

    from tasks.pacs.config import receiver_config
    from tasks.pacs.receiver import StorageSCP

    over = {k: v for k, v in {"receive_ae_title": args.ae_title, "receive_host": args.host,
                              "receive_port": args.port}.items() if v is not None}
    try:
        cfg = receiver_config(settings.replace(**over))
    except ValueError as exc:
        print(f"calcisvd receive: {redact(str(exc))}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scp = StorageSCP(cfg)
    try:
        scp.start(block=False)
    except OSError as exc:
        print(f"calcisvd receive: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}",
              file=sys.stderr)
        return 2
    print(f"calcisvd receive: listening on {cfg.host}:{cfg.port} as {cfg.ae_title}; "
          f"writing to {cfg.drop_dir}", file=sys.stderr, flush=True)
    stop.wait()
    scp.stop()
    return 0
