"""Screenshots of the QC web app (`calcisvd qc serve`) with headless chromium (issue 20).

Serves the QC pages of a quantified and loaded home (e.g. a small simulated cohort after
`calcisvd simulate && calcisvd run`) on a free 127.0.0.1 port, and writes small PNGs of the
group page and of one session page with its SVG reportlets (the first session with a CT and
an MRI registration reportlet). Debian's chromium (`make system-packages`).

    .venv/bin/python -m bench.qc_screenshots --home /var/tmp/x [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shoot(url: str, out: Path, width: int, height: int) -> None:
    """One headless chromium screenshot at 0.6 device scale (small PNGs)."""
    subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--force-device-scale-factor=0.6",
                    f"--window-size={width},{height}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=180)


def main(argv: list[str] | None = None) -> int:
    """Serve, screenshot, stop."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args(argv)
    if not shutil.which("chromium"):
        print("chromium missing: run `make system-packages`")
        return 1
    from calcisvd.settings import load_settings
    from tasks.qc.server import make_server, serve_in_thread

    settings = load_settings(env={}, overrides={"home": args.home})
    deriv = Path(settings.derivatives_dir)
    pages = sorted(p.parent.parent for p in
                   deriv.glob("sub-*/ses-*/figures/*_desc-ctregistration_qc.svg"))
    pages = [p for p in pages if any(p.glob("figures/*_desc-registration_qc.svg"))] or pages
    server = make_server(Path(settings.warehouse_path), deriv, "screenshots")
    serve_in_thread(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        shoot(base + "/", args.out / "qc-group.png", 1600, 2000)
        if pages:
            label = f"{pages[0].parent.name}_{pages[0].name}"
            shoot(f"{base}/session/{label}", args.out / "qc-session-reportlets.png", 1300,
                  4200)
    finally:
        server.shutdown()
        server.server_close()
    for p in sorted(args.out.glob("qc-*.png")):
        print(p.relative_to(ROOT), p.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
