"""The MNI152 2009 template shipped with nilearn, loaded once per process.

ICBM 2009 MNI152 nonlinear symmetric template (Fonov VS et al., NeuroImage 2011): the
brain-extracted T1 at its native 1 mm (:func:`mni152_t1_native`, read from nilearn's bundled
file), and nilearn's resampled T1, brain mask and grey/white-matter probability maps
(:func:`mni152`, :func:`mni152_tissue`). Nothing is downloaded: all ship inside nilearn.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: nilearn's bundled brain-extracted T1 template (1 mm)
TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


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
    """(T1 array, brain mask array, RAS affine) of nilearn's MNI152 2009 at ``resolution_mm``."""
    from nilearn import datasets

    t1 = datasets.load_mni152_template(resolution=resolution_mm)
    mask = datasets.load_mni152_brain_mask(resolution=resolution_mm)
    return (t1.get_fdata(dtype=np.float32), mask.get_fdata(dtype=np.float32),
            np.asarray(t1.affine, float))


@functools.lru_cache(maxsize=4)
def mni152_tissue(tissue: str, resolution_mm: int = 2) -> NDArray[np.float32]:
    """Grey (``"gm"``) or white (``"wm"``) matter probability of the template (float32)."""
    from nilearn import datasets

    load = {"gm": datasets.load_mni152_gm_template,
            "wm": datasets.load_mni152_wm_template}.get(tissue)
    if load is None:
        raise ValueError(f"unknown tissue {tissue!r}: use 'gm' or 'wm'")
    return load(resolution=resolution_mm).get_fdata(dtype=np.float32)
