"""A small analytic MRI head phantom for unit tests and the speed benchmark.

Ellipsoidal head (scalp, skull, cortex ribbon, white matter, central grey nuclei, two lateral
ventricles) with spherical WMH, microbleeds and lacunes (with a FLAIR rim) and thin tubes for
perivascular spaces, rendered in four contrasts with noise, blur and a smooth bias field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: tissue intensities per contrast (arbitrary units, scaled per image)
_INT = {
    #            bg    scalp skull CSF   GM    WM    WMH   MB    rim
    "T1w":     (0.0, 0.9, 0.05, 0.25, 0.60, 0.85, 0.55, 0.70, 0.60),
    "T2w":     (0.0, 0.5, 0.05, 1.00, 0.55, 0.40, 0.75, 0.15, 0.70),
    "FLAIR":   (0.0, 0.6, 0.05, 0.08, 0.55, 0.45, 0.95, 0.30, 0.85),
    "T2starw": (0.0, 0.5, 0.05, 0.90, 0.60, 0.50, 0.65, 0.08, 0.60),
}
BG, SCALP, SKULL, CSF, GM, WM, WMH, MB, RIM = range(9)


@dataclass
class Phantom:
    """Rendered images and truth."""

    images: dict[str, tuple[NDArray, NDArray]]
    truth: dict[str, NDArray]
    wmh: list[tuple[tuple[float, float, float], float]] = field(default_factory=list)
    microbleeds: list[tuple[float, float, float]] = field(default_factory=list)
    lacunes: list[tuple[float, float, float]] = field(default_factory=list)
    pvs: list[tuple[float, float, float]] = field(default_factory=list)


def make_phantom(spacing: float = 2.0, *, seed: int = 0, lesions: bool = True,
                 noise: float = 0.02, bias: float = 0.1,
                 modalities: tuple[str, ...] = ("T1w", "T2w", "FLAIR", "T2starw")) -> Phantom:
    """Render the phantom at isotropic ``spacing`` mm (shape about 180/spacing per axis)."""
    rng = np.random.default_rng(seed)
    n = [int(round(e / spacing)) for e in (160, 192, 160)]
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = [-(s - 1) * spacing / 2 for s in n]
    ii, jj, kk = np.meshgrid(*[np.arange(s) for s in n], indexing="ij")
    x = affine[0, 0] * ii + affine[0, 3]
    y = affine[1, 1] * jj + affine[1, 3]
    z = affine[2, 2] * kk + affine[2, 3]

    def ell(c, r):
        return (((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2
                + ((z - c[2]) / r[2]) ** 2) <= 1.0

    lab = np.full(x.shape, BG, np.uint8)
    lab[ell((0, 0, 0), (74, 90, 70))] = SCALP
    lab[ell((0, 0, 0), (69, 85, 65))] = SKULL
    lab[ell((0, 0, 0), (64, 80, 60))] = CSF
    lab[ell((0, 0, 0), (62, 78, 58))] = GM
    lab[ell((0, 0, 0), (58, 74, 54))] = WM
    for sx in (-1, 1):  # deep grey nuclei and lateral ventricles
        lab[ell((sx * 20, 0, -5), (8, 14, 9))] = GM
        lab[ell((sx * 10, 5, 8), (6, 26, 9))] = CSF
    truth = {"ventricles": lab == CSF}
    truth["ventricles"] &= ell((0, 0, 0), (40, 60, 40))
    ph = Phantom(images={}, truth={})
    wmh = np.zeros(x.shape, bool)
    mb = np.zeros(x.shape, bool)
    lac = np.zeros(x.shape, bool)
    pvs = np.zeros(x.shape, bool)
    if lesions:
        for c, r in [((18, 10, 12), 5.0), ((-18, -8, 12), 4.0), ((-30, 30, 25), 6.0),
                     ((32, -30, 20), 3.0), ((0, 45, 30), 2.5)]:
            s = ell(c, (r, r, r)) & (lab == WM)
            wmh |= s
            ph.wmh.append((c, r))
        for c in [(-35, 20, -10), (35, 40, 10), (25, -45, 30), (-25, -40, 0)]:
            mb |= ell(c, (1.8, 1.8, 1.8))
            ph.microbleeds.append(c)
        for c, r in [((-35, -20, 30), 3.5), ((38, 10, -20), 3.0)]:
            lac |= ell(c, (r, r, r))
            ph.lacunes.append(c)
        for c in [(20, -8, -8), (-20, 8, -3), (22, 6, 0)]:
            pvs |= ell(c, (0.9, 0.9, 6.0))
            ph.pvs.append(c)
        lab[wmh] = WMH
        lab[mb] = MB
        rim = ndimage.binary_dilation(lac, iterations=max(1, int(np.ceil(3.0 / spacing)))) & ~lac
        lab[rim & (lab == WM)] = RIM
        lab[lac | pvs] = CSF
    brain = ell((0, 0, 0), (64, 80, 60))
    tissue = np.where(brain, 3, 0).astype(np.uint8)
    tissue[brain & (lab == CSF)] = 1
    tissue[brain & (lab == GM)] = 2
    ph.truth.update(ventricles=truth["ventricles"], wmh=wmh, microbleeds=mb, lacunes=lac,
                    pvs=pvs, brain=brain, tissue=tissue)
    field_ = 1.0 + bias * (x / 80.0 + 0.5 * z / 60.0)
    for name in modalities:
        vals = np.asarray(_INT[name], np.float32)
        img = ndimage.gaussian_filter(vals[lab], 0.6 / spacing * 1.0 + 0.3)
        img = img * field_ + rng.normal(0, noise, img.shape)
        ph.images[name] = (np.abs(img).astype(np.float32) * 1000.0, affine.copy())
    return ph
