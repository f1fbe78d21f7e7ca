"""The MNI152 2009 template shipped with nilearn, loaded once per process.

ICBM 2009 MNI152 nonlinear symmetric template (Fonov VS et al., NeuroImage 2011): the
brain-extracted T1 at its native 1 mm (:func:`mni152_t1_native`, read from nilearn's bundled
file), and nilearn's resampled T1, brain mask and grey/white-matter probability maps
(:func:`mni152`, :func:`mni152_tissue`). Nothing is downloaded: all ship inside nilearn.

Importing nilearn and resampling its templates costs about 3 s of CPU, paid again by every
process that quantifies a session (a Nipype node, a benchmark child). The derived arrays are
therefore also kept on disk (:func:`cached_arrays`): built once from nilearn's files, then
read back in milliseconds, identical to the last bit. The folder is ``$CALCISVD_CACHE_DIR``,
else ``$XDG_CACHE_HOME/calcisvd``, else ``~/.cache/calcisvd``; each file is keyed by nilearn's
version; a folder that cannot be written only costs the time (nothing fails).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: nilearn's bundled brain-extracted T1 template (1 mm)
TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
#: bump when what a cached file holds changes (old files are then ignored, not misread)
CACHE_FORMAT = 1


def cache_dir() -> Path:
    """Where derived template arrays are kept between processes (see the module docstring)."""
    explicit = os.environ.get("CALCISVD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "calcisvd"


def cached_arrays(key: str, build: Callable[[], dict[str, NDArray]]) -> dict[str, NDArray]:
    """The arrays ``build()`` returns, read from ``<cache_dir>/<key>-nilearn<version>.npz``
    when that file exists and reads whole, else built and written there atomically (a
    temporary file renamed into place: two processes at once each write a whole file). A
    missing, truncated or unreadable file is rebuilt; a folder that cannot be written is
    left alone."""
    try:
        version = importlib.metadata.version("nilearn")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - nilearn is required
        version = "none"
    path = cache_dir() / f"{key}-nilearn{version}-f{CACHE_FORMAT}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile):
        pass  # absent or damaged: build it
    arrays = build()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{key}-", suffix=".npz",
                                         delete=False) as fh:
            tmp = Path(fh.name)
            np.savez(fh, **arrays)
        tmp.chmod(0o644)  # readable by the other users of a shared cache folder
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return arrays


def template_path() -> Path | None:
    """Path of nilearn's bundled 1 mm T1 template file, or None."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / TEMPLATE_FILE
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def mni152_t1_native() -> tuple[NDArray[np.float32], NDArray]:
    """The brain-extracted 1 mm T1 template as shipped (float32 array, RAS affine)."""
    import nibabel as nib

    path = template_path()
    if path is not None:
        img = nib.load(str(path))
    else:  # pragma: no cover - nilearn without its bundled data file
        from nilearn.datasets import load_mni152_template

        img = load_mni152_template(resolution=1)
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(img.affine)


@functools.lru_cache(maxsize=2)
def mni152(resolution_mm: int = 2) -> tuple[NDArray, NDArray, NDArray]:
    """(T1 array, brain mask array, RAS affine) of nilearn's MNI152 2009 at ``resolution_mm``
    (float32, float32, float64; kept on disk, :func:`cached_arrays`)."""

    def build() -> dict[str, NDArray]:
        from nilearn import datasets

        t1 = datasets.load_mni152_template(resolution=resolution_mm)
        mask = datasets.load_mni152_brain_mask(resolution=resolution_mm)
        return {"t1": t1.get_fdata(dtype=np.float32), "mask": mask.get_fdata(dtype=np.float32),
                "affine": np.asarray(t1.affine, float)}

    a = cached_arrays(f"mni152-{resolution_mm}mm", build)
    return a["t1"], a["mask"], a["affine"]


@functools.lru_cache(maxsize=4)
def mni152_tissue(tissue: str, resolution_mm: int = 2) -> NDArray[np.float32]:
    """Grey (``"gm"``) or white (``"wm"``) matter probability of the template (float32; kept
    on disk, :func:`cached_arrays`)."""
    if tissue not in ("gm", "wm"):
        raise ValueError(f"unknown tissue {tissue!r}: use 'gm' or 'wm'")

    def build() -> dict[str, NDArray]:
        from nilearn import datasets

        load = {"gm": datasets.load_mni152_gm_template,
                "wm": datasets.load_mni152_wm_template}[tissue]
        return {"p": load(resolution=resolution_mm).get_fdata(dtype=np.float32)}

    return cached_arrays(f"mni152-{tissue}-{resolution_mm}mm", build)["p"]
