"""Image-quality metrics (IQMs) of one image, in the style of MRIQC, and of a head CT.

Pure numpy functions on an image array and boolean masks. Definitions follow MRIQC
(Esteban O et al., "MRIQC: Advancing the automatic prediction of image quality in MRI from
unseen sites", PLoS ONE 12(9): e0184661, 2017; and the MRIQC documentation "IQMs for
structural images"), which cite the original papers named per function. Units: the
intensity ratios (SNR, CNR, CJV, FBER) are dimensionless; EFC is in [0, 1]; the bias-field
spread is a ratio of the (multiplicative) N4 field; CT values are Hounsfield units (HU).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

#: Rayleigh correction of the background SD of a magnitude image: sqrt(2 / (4 - pi))
#: (Dietrich O et al., J Magn Reson Imaging 2007; MRIQC snrd)
RAYLEIGH = math.sqrt(2.0 / (4.0 - math.pi))


def _vals(image: NDArray, mask: NDArray) -> NDArray[np.float64]:
    return np.asarray(image, np.float64)[np.asarray(mask, bool)]


def _mean_sd(image: NDArray, mask: NDArray) -> tuple[float, float]:
    v = _vals(image, mask)
    if v.size < 2:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1))


def snr(image: NDArray, tissue: NDArray) -> float:
    """Within-tissue SNR = mean / SD of the tissue (MRIQC ``snr_<tissue>``)."""
    mu, sd = _mean_sd(image, tissue)
    return mu / sd if sd > 0 else math.nan


def snr_dietrich(image: NDArray, tissue: NDArray, air: NDArray) -> float:
    """SNR against the air: mean(tissue) / (SD(air) x sqrt(2/(4-pi))) (Dietrich 2007;
    MRIQC ``snrd_<tissue>``); ``nan`` when the air has no spread (zero-filled background)."""
    mu, _ = _mean_sd(image, tissue)
    _, sd_air = _mean_sd(image, air)
    return mu / (sd_air * RAYLEIGH) if sd_air > 0 else math.nan


def cnr(image: NDArray, gm: NDArray, wm: NDArray, air: NDArray) -> float:
    """Contrast-to-noise ratio |mu_WM - mu_GM| / sqrt(sd_air^2 + sd_GM^2 + sd_WM^2)
    (Magnotta VA et al., J Digit Imaging 2006; MRIQC ``cnr``)."""
    mg, sg = _mean_sd(image, gm)
    mw, sw = _mean_sd(image, wm)
    _, sa = _mean_sd(image, air)
    sa = 0.0 if math.isnan(sa) else sa
    den = math.sqrt(sa * sa + sg * sg + sw * sw)
    return abs(mw - mg) / den if den > 0 else math.nan


def cjv(image: NDArray, gm: NDArray, wm: NDArray) -> float:
    """Coefficient of joint variation (sd_WM + sd_GM) / |mu_WM - mu_GM| (Ganzetti M et al.,
    Front Neuroinform 2016; MRIQC ``cjv``); lower is better (noise, bias, motion raise it)."""
    mg, sg = _mean_sd(image, gm)
    mw, sw = _mean_sd(image, wm)
    d = abs(mw - mg)
    return (sw + sg) / d if d > 0 else math.nan


def efc(image: NDArray) -> float:
    """Entropy focus criterion, normalised to [0, 1] (Atkinson D et al., IEEE TMI 1997;
    MRIQC ``efc``): E = -sum (x/x_max) ln(x/x_max), x_max = sqrt(sum x^2), divided by the
    entropy of a uniform image of the same size. Higher means ghosting and blurring."""
    x = np.abs(np.asarray(image, np.float64)).ravel()
    n = x.size
    b_max = math.sqrt(float((x * x).sum()))
    if n == 0 or b_max == 0:
        return math.nan
    efc_max = n * (1.0 / math.sqrt(n)) * math.log(1.0 / math.sqrt(n))
    r = x / b_max
    return float((r * np.log(r + 1e-16)).sum() / efc_max)


def fber(image: NDArray, head: NDArray) -> float:
    """Foreground-background energy ratio median(|x_head|^2) / median(|x_air|^2) (Shehzad Z
    et al., QAP 2015; MRIQC ``fber``); ``inf`` when the background median is zero."""
    head = np.asarray(head, bool)
    x = np.abs(np.asarray(image, np.float64))
    fg, bg = x[head], x[~head]
    if fg.size == 0 or bg.size == 0:
        return math.nan
    b = float(np.median(bg * bg))
    return float(np.median(fg * fg)) / b if b > 0 else math.inf


def bias_spread(field: NDArray, brain: NDArray) -> dict[str, float]:
    """Spread of a multiplicative bias field in the brain: ``inu_range`` = 95th - 5th
    percentile and ``inu_med`` = median (MRIQC ``inu_range``, ``inu_med``; N4 field,
    Tustison NJ et al., IEEE TMI 2010). A flat field gives range 0 and median 1."""
    v = _vals(field, brain)
    if v.size == 0:
        return {"inu_range": math.nan, "inu_med": math.nan}
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return {"inu_range": float(p95 - p5), "inu_med": float(p50)}


def mr_iqms(image: NDArray, masks: Mapping[str, NDArray], field: NDArray | None = None
            ) -> dict[str, float]:
    """Every MR IQM of one contrast. ``masks``: boolean ``head`` (foreground), ``brain``,
    ``gm``, ``wm`` (air = not head). Keys: ``snr_wm``, ``snr_gm``, ``snrd_wm``, ``cnr``,
    ``cjv``, ``efc``, ``fber`` and, with the N4 ``field``, ``inu_range``, ``inu_med``."""
    air = ~np.asarray(masks["head"], bool)
    out = {"snr_wm": snr(image, masks["wm"]), "snr_gm": snr(image, masks["gm"]),
           "snrd_wm": snr_dietrich(image, masks["wm"], air),
           "cnr": cnr(image, masks["gm"], masks["wm"], air),
           "cjv": cjv(image, masks["gm"], masks["wm"]),
           "efc": efc(image), "fber": fber(image, masks["head"])}
    if field is not None:
        out.update(bias_spread(field, masks["brain"]))
    return out


def ct_iqms(hu: NDArray, air: NDArray, brain: NDArray, csf: NDArray) -> dict[str, float]:
    """Head-CT quality in HU: ``noise_air_sd`` (SD of the air around the head),
    ``noise_brain_sd`` (robust SD of brain parenchyma: 1.4826 x MAD, so that CSF and vessels
    do not inflate it), ``csf_hu`` and ``brain_hu`` (medians; water is 0 HU and CSF 0-15 HU,
    brain parenchyma 20-45 HU on a calibrated scanner: the HU calibration check)."""
    a, b, c = _vals(hu, air), _vals(hu, brain), _vals(hu, csf)
    med_b = float(np.median(b)) if b.size else math.nan
    return {"noise_air_sd": float(a.std(ddof=1)) if a.size > 1 else math.nan,
            "noise_brain_sd": float(1.4826 * np.median(np.abs(b - med_b))) if b.size else
            math.nan,
            "csf_hu": float(np.median(c)) if c.size else math.nan,
            "brain_hu": med_b}


def otsu_threshold(values: NDArray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu N, IEEE Trans Syst Man Cybern 9:62-66, 1979): the cut that
    maximises the between-class variance of a ``bins``-bin histogram."""
    v = np.asarray(values, np.float64).ravel()
    hist, edges = np.histogram(v, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


def head_mask(image: NDArray, brain: NDArray) -> NDArray[np.bool_]:
    """Head foreground of an MR image: above Otsu's threshold, largest component, holes
    filled, plus the brain mask (MRIQC's air mask is its complement)."""
    from scipy import ndimage

    x = np.asarray(image, np.float32)
    fg = x > otsu_threshold(x[::2, ::2, ::2])
    lab, n = ndimage.label(fg)
    if n > 1:
        sizes = ndimage.sum(fg, lab, index=np.arange(1, n + 1))
        fg = lab == (1 + int(np.argmax(sizes)))
    fg = ndimage.binary_fill_holes(fg | np.asarray(brain, bool))
    return np.asarray(fg, bool)


def mr_session_iqms(images: Mapping[str, NDArray], brain: NDArray, tissue: NDArray,
                    fields: Mapping[str, NDArray] | None = None
                    ) -> dict[str, dict[str, float | None]]:
    """IQMs of every MR contrast of a session on the reference grid: ``{contrast: {metric:
    value}}`` (:func:`mr_iqms`). ``tissue``: 0 background, 1 CSF, 2 GM, 3 WM (the session's
    tissue classes); ``fields``: the contrast's N4 bias field, when computed. Values are
    rounded to 4 significant digits; ``nan``/``inf`` become ``None`` (JSON)."""
    brain = np.asarray(brain, bool)
    tissue = np.asarray(tissue)
    out: dict[str, dict[str, float | None]] = {}
    for name, img in images.items():
        masks = {"head": head_mask(img, brain), "brain": brain,
                 "gm": brain & (tissue == 2), "wm": brain & (tissue == 3)}
        vals = mr_iqms(img, masks, None if fields is None else fields.get(name))
        out[name] = {k: _clean(v) for k, v in vals.items()}
    return out


def ct_session_iqms(hu: NDArray, intracranial: NDArray, spacing: tuple[float, ...]
                    ) -> dict[str, float | None]:
    """CT IQMs in HU. ``noise_air_sd``: SD over air voxels (-1100..-500 HU, the air band of
    :func:`tasks.icac.ctqc.tissue_hu`, eroded by 2 voxels so that edges do not count);
    ``noise_brain_sd``: robust SD of the intracranial soft tissue (``ctqc.SOFT_TISSUE_HU``,
    eroded by 2 voxels); ``csf_hu``/``brain_hu`` from :func:`tasks.icac.ctqc.tissue_hu` (one
    home for the HU calibration check)."""
    from scipy import ndimage

    from tasks.icac.ctqc import SOFT_TISSUE_HU, tissue_hu

    hu = np.asarray(hu, np.float32)
    ic = np.asarray(intracranial, bool)
    air = ndimage.binary_erosion((hu > -1100) & (hu < -500), iterations=2)
    lo, hi = SOFT_TISSUE_HU
    soft = ndimage.binary_erosion(ic, iterations=2) & (hu >= lo) & (hu <= hi)
    q = ct_iqms(hu, air, soft, np.zeros_like(ic))
    t = tissue_hu(hu, ic, spacing)
    return {"noise_air_sd": _clean(q["noise_air_sd"]),
            "noise_brain_sd": _clean(q["noise_brain_sd"]),
            "csf_hu": _clean(t["csf"]), "brain_hu": _clean(t["brain"])}


def _clean(v: float | None) -> float | None:
    if v is None or not math.isfinite(float(v)):
        return None
    return float(f"{float(v):.4g}")
