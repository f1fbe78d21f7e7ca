"""Connected-component measurements shared by the lesion detectors (pure numpy/scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: 26-connectivity in 3-D
CONN26 = np.ones((3, 3, 3), bool)


@dataclass
class Component:
    """One connected lesion candidate."""

    label: int
    n_voxels: int
    volume_mm3: float
    centre_ijk: NDArray  #: centroid in voxel coordinates
    diameters_mm: NDArray  #: ellipsoid-equivalent axis lengths, largest first (mm)
    slices: tuple[slice, ...]

    @property
    def equivalent_diameter_mm(self) -> float:
        """Diameter of the sphere with the component's volume: (6 V / pi)^(1/3)."""
        return float((6.0 * self.volume_mm3 / np.pi) ** (1.0 / 3.0))

    @property
    def width_mm(self) -> float:
        """Second-largest ellipsoid axis (the calibre of a tube, the minor width of an ovoid)."""
        return float(self.diameters_mm[1])

    @property
    def elongation(self) -> float:
        """Largest over smallest ellipsoid axis (1 for a sphere)."""
        return float(self.diameters_mm[0] / max(self.diameters_mm[2], 1e-6))


def components(mask: NDArray[np.bool_], spacing: tuple[float, ...], *,
               connectivity: NDArray | None = None) -> tuple[NDArray, list[Component]]:
    """Label ``mask`` (26-connectivity) and measure each component.

    Axis lengths come from the eigenvalues of the covariance of the voxel coordinates in mm: for
    a solid ellipsoid with semi-axis a the variance along that axis is a^2 / 5, so the axis length
    is ``2 sqrt(5 lambda)``; a voxel's own extent (variance s^2/12) is added so that a single
    voxel measures about one voxel across.
    """
    lab, n = ndimage.label(mask, structure=CONN26 if connectivity is None else connectivity)
    out: list[Component] = []
    if n == 0:
        return lab, out
    sp = np.asarray(spacing, float)
    vox = float(np.prod(sp))
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        idx = np.argwhere(lab[sl] == i)
        coords = (idx + [s.start for s in sl]) * sp
        centre = coords.mean(0) / sp
        cov = np.cov(coords.T) if len(coords) > 1 else np.zeros((3, 3))
        cov = cov + np.diag(sp ** 2 / 12.0)
        ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0, None))[::-1]
        out.append(Component(label=i, n_voxels=len(idx), volume_mm3=len(idx) * vox,
                             centre_ijk=centre, diameters_mm=2.0 * np.sqrt(5.0 * ev), slices=sl))
    return lab, out


def shell(mask: NDArray[np.bool_], spacing: tuple[float, ...], inner_mm: float,
          outer_mm: float) -> NDArray[np.bool_]:
    """Voxels outside ``mask`` whose Euclidean distance to it (mm, voxel centres) lies in
    (``inner_mm``, ``outer_mm``]."""
    d = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return (d > inner_mm) & (d <= outer_mm)


def padded(sl: tuple[slice, ...], shape: tuple[int, ...], pad: int) -> tuple[slice, ...]:
    """Bounding-box slices grown by ``pad`` voxels and clipped to ``shape``."""
    return tuple(slice(max(0, s.start - pad), min(n, s.stop + pad))
                 for s, n in zip(sl, shape, strict=True))
