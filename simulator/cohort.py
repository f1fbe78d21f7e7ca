"""Cohort sampling calibrated to the reference study (``paper_tables.yaml``): no images here.

Every patient gets a severity group and a dominant calcification location (group sizes
60/35/31 and locations 50/38/38 scaled to N), clinical covariates drawn per group from Table 1,
baseline SVD marker *targets* per group from Table 2 and one-year changes from Table 4. The
image renderer then places lesions to realise these targets; the ground truth is always
recomputed from the rendered masks.

Counts use stochastic rounding (``floor(x) + Bernoulli(frac(x))``) so that their means equal the
published means; WMH volume and Fazekas grade are made mutually consistent with the Fazekas
volume proxies of docs/markers.md (see :func:`plan_wmh`; constants below, not imported) and
the group's WMH volumes are then shifted so that their mean equals Table 2's (the
feasibility clamp would otherwise bias it).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GROUPS = ("none_mild", "moderate", "severe")
LOCATIONS = ("MCA", "BA", "ICA")
CLINICAL_BINARY = ("smoking", "hypertension", "diabetes", "hyperlipidaemia", "heart_disease",
                   "prior_stroke")

#: feasible periventricular WMH volume (cm^3) per PV Fazekas grade (rules: 1, 5, 12 cm^3)
PV_RANGE = {0: (0.0, 0.8), 1: (1.3, 4.6), 2: (5.5, 11.5), 3: (12.8, 30.0)}
#: feasible deep WMH volume (cm^3) per deep Fazekas grade (many small foci for grade 1)
DEEP_RANGE = {0: (0.0, 0.0), 1: (0.1, 14.0), 2: (0.9, 14.0), 3: (5.5, 16.0)}
#: mean head-size scale of the MNI152 2009 head by sex: adult intracranial volume 1.3 L (F),
#: 1.5 L (M) over the template's 2.0 L, cube root (see sample_patient)
HEAD_SCALE_MEAN = {"F": 0.87, "M": 0.91}


@functools.cache
def paper_tables() -> dict[str, Any]:
    """The published numbers (a copy of ``shared/paper/tables.yaml`` shipped with the package)."""
    import yaml

    return yaml.safe_load((Path(__file__).with_name("paper_tables.yaml")).read_text())


def allocate(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split ``total`` over categories in proportion to ``weights`` (largest remainder)."""
    w = np.array(list(weights.values()), dtype=float)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    for i in order[: total - base.sum()]:
        base[i] += 1
    return dict(zip(weights, base.tolist(), strict=True))


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """``floor(x)`` plus one with probability ``x - floor(x)``: unbiased integer rounding."""
    f = np.floor(x)
    return int(f + (rng.random() < (x - f)))


@dataclass
class WmhPlan:
    """How a visit's WMH splits: PV volume, deep grade and deep volume (cm^3, subject space)."""

    pv_grade: int
    deep_grade: int
    pv_volume_cm3: float
    deep_volume_cm3: float

    @property
    def total_cm3(self) -> float:
        """Planned total WMH volume."""
        return self.pv_volume_cm3 + self.deep_volume_cm3

    @property
    def fazekas_total(self) -> int:
        """Planned total Fazekas grade."""
        return self.pv_grade + self.deep_grade


def wmh_range(fazekas_total: int, floor: WmhPlan | None = None) -> tuple[float, float]:
    """Feasible total WMH volume (cm^3) for a Fazekas total under the rules (and a floor plan)."""
    lo, hi = np.inf, -np.inf
    for p, q in _splits(fazekas_total, floor):
        lo = min(lo, PV_RANGE[p][0] + DEEP_RANGE[q][0])
        hi = max(hi, PV_RANGE[p][1] + DEEP_RANGE[q][1])
    return float(lo), float(hi)


def _splits(total: int, floor: WmhPlan | None) -> list[tuple[int, int]]:
    out = [(p, total - p) for p in range(4) if 0 <= total - p <= 3]
    if floor is not None:
        out = [(p, q) for p, q in out if p >= floor.pv_grade and q >= floor.deep_grade]
    return out


def _bounds(p: int, q: int, floor: WmhPlan | None) -> tuple[float, float, float, float]:
    """(pv_lo, pv_hi, deep_lo, deep_hi) for grades (p, q), never below the floor plan."""
    plo, phi = PV_RANGE[p]
    dlo, dhi = DEEP_RANGE[q]
    if floor is not None:
        plo = max(plo, floor.pv_volume_cm3)
        dlo = max(dlo, floor.deep_volume_cm3)
    return plo, max(phi, plo), dlo, max(dhi, dlo)


def _split(p: int, q: int, v: float, pv_target: float, floor: WmhPlan | None) -> WmhPlan:
    """Plan with grades (p, q) and total ``v`` (clamped to feasibility); the PV part is
    ``pv_target`` where feasible and the deep part takes the rest."""
    plo, phi, dlo, dhi = _bounds(p, q, floor)
    v = float(np.clip(v, plo + dlo, phi + dhi))
    pv = float(np.clip(pv_target, max(plo, v - dhi), min(phi, v - dlo)))
    return WmhPlan(p, q, round(pv, 3), round(max(v - pv, dlo), 3))


def plan_wmh(fazekas_total: int, volume_cm3: float, rng: np.random.Generator,
             floor: WmhPlan | None = None) -> WmhPlan:
    """Split a target WMH volume into PV and deep parts that give ``fazekas_total``.

    Among the (PV, deep) grade pairs summing to the total, pick the one whose feasible volume
    range contains the target (preferring PV-dominant splits, as in real WMH). The PV volume is
    drawn inside its grade's range (between 15% and 85% of it), not pushed to the range's
    ceiling by a large total: real PV volumes spread over a grade, they do not pile up just
    below the next cut-point. The deep part takes the rest of the target; without deep WMH
    the total is the PV volume. With ``floor`` (the baseline plan) no part may shrink. If
    nothing is feasible the Fazekas total is moved towards the volume.
    """
    total = int(np.clip(fazekas_total, 0, 6))
    if floor is not None:
        total = max(total, floor.fazekas_total)
    splits = _splits(total, floor)
    while not splits:
        total = min(6, total + 1)
        splits = _splits(total, floor)
    best = None
    for p, q in sorted(splits, key=lambda s: -s[0]):
        plo, phi, dlo, dhi = _bounds(p, q, floor)
        lo, hi = plo + dlo, phi + dhi
        if floor is not None:
            lo = max(lo, floor.total_cm3 + 0.2)
        gap = 0.0 if lo <= volume_cm3 <= hi else min(abs(volume_cm3 - lo), abs(volume_cm3 - hi))
        if best is None or gap < best[0] - 1e-9:
            best = (gap, p, q, lo)
    _, p, q, lo = best
    plo, phi, _, _ = _bounds(p, q, floor)
    pv_target = plo + rng.uniform(0.15, 0.85) * (phi - plo)
    return _split(p, q, max(volume_cm3 if q > 0 else pv_target, lo), pv_target, floor)


@dataclass
class VisitTargets:
    """Marker targets of one visit (what the renderer aims at)."""

    wmh: WmhPlan
    microbleed_count: int
    lacune_count: int
    n_punctate: int
    bg_pvs_count: int
    other_pvs_count: int
    calcium_growth: float = 1.0


@dataclass
class PatientSpec:
    """One simulated patient: identity, group, location, covariates and per-visit targets."""

    index: int
    patient_id: str
    seed: int
    group: str
    location: str
    age: int
    sex: str
    clinical: dict[str, str]
    head_scale: float
    atrophy_mm: float
    baseline_day: int  # days after the cohort's first study date
    followup_gap_days: int
    birth_offset_days: int  # birthday shift within the year
    targets: dict[str, VisitTargets] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """JSON-friendly record for ``cohort.json``."""
        d = asdict(self)
        for v in d["targets"].values():
            v["wmh"]["total_cm3"] = round(v["wmh"]["pv_volume_cm3"]
                                          + v["wmh"]["deep_volume_cm3"], 3)
        return d


def patient_rng(seed: int, index: int, stream: str) -> np.random.Generator:
    """Independent, reproducible random stream for one patient and purpose."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{index}:{stream}".encode()).digest()[:8], "big")
    return np.random.default_rng(h)


def patient_id_for(seed: int, index: int) -> str:
    """Hospital-style patient ID (deterministic for a seed)."""
    h = int.from_bytes(hashlib.sha256(f"pid:{seed}:{index}".encode()).digest()[:4], "big")
    return f"H{h % 10_000_000:07d}"


def _normal(rng: np.random.Generator, mean_sd: list[float], lo: float = -np.inf,
            hi: float = np.inf) -> float:
    mean, sd = mean_sd[:2]
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def sample_patient(seed: int, index: int, group: str, location: str,
                   follow_up: bool = True) -> PatientSpec:
    """Draw one patient of a given group and location (covariates and marker targets)."""
    t = paper_tables()
    rng = patient_rng(seed, index, "clinical")
    t1 = t["table1_baseline_characteristics"]
    age = int(round(_normal(rng, t1["age_years"][group], 18, 80)))
    male, female = t1["sex_male_female"][group]
    sex = "M" if rng.random() < male / (male + female) else "F"
    clinical = {}
    for name in CLINICAL_BINARY:
        yes, no = t1[name][group]
        clinical[name] = "yes" if rng.random() < yes / (yes + no) else "no"
    # head-size scale of the MNI152 2009 head: its intracranial volume (brain mask 1.88 L plus
    # the 1.5 mm CSF layer of anatomy.LAYERS_MM, about 2.0 L) is larger than an adult's, about
    # 1.3 L (women) and 1.5 L (men) with an SD near 0.12 L (e.g. Buckner RL et al., NeuroImage
    # 2004;23:724-38): scale = (ICV / 2.0 L)^(1/3), SD 3 %
    head_scale = float(np.clip(rng.normal(HEAD_SCALE_MEAN[sex], 0.03), 0.80, 1.0))
    atrophy = float(np.clip(0.06 * (age - 45) + rng.normal(0, 0.5), 0.0, 3.5))
    spec = PatientSpec(
        index=index, patient_id=patient_id_for(seed, index), seed=seed, group=group,
        location=location, age=age, sex=sex, clinical=clinical, head_scale=head_scale,
        atrophy_mm=atrophy, baseline_day=int(rng.integers(0, 365)),
        followup_gap_days=int(np.clip(round(rng.normal(365, 15)), 335, 395)),
        birth_offset_days=int(rng.integers(0, 365)),
    )
    mrng = patient_rng(seed, index, "markers")
    t2 = t["table2_mri_by_severity"]
    faz = int(np.clip(stochastic_round(_normal(mrng, t2["fazekas_total"][group]), mrng), 0, 6))
    vol = _normal(mrng, t2["wmh_volume_cm3"][group], 0.3)
    mb = max(0, stochastic_round(_normal(mrng, t2["microbleed_count"][group]), mrng))
    med, q1, q3 = t2["lacune_count_median_iqr"][group]
    lac = max(0, int(round(mrng.normal(med, (q3 - q1) / 1.349))))
    pg = t2["periventricular_grade_counts"][group]
    probs = np.array([pg["g0_1"], pg["g2"], pg["g3"]], dtype=float)
    cat = int(mrng.choice(3, p=probs / probs.sum()))
    n_punct = [int(mrng.integers(0, 3)), int(mrng.integers(3, 6)), int(mrng.integers(6, 9))][cat]
    p_bg = {"none_mild": 0.2, "moderate": 0.35, "severe": 0.5}[group]
    bg = int(mrng.integers(11, 16)) if mrng.random() < p_bg else int(mrng.integers(2, 9))
    base = VisitTargets(plan_wmh(faz, vol, mrng), mb, lac, n_punct, bg,
                        int(mrng.integers(2, 7)))
    spec.targets["baseline"] = base
    if follow_up:
        t4 = t["table4_one_year_change_by_severity"]
        d_faz = max(0, stochastic_round(_normal(mrng, t4["fazekas_total_change"][group]), mrng))
        d_vol = _normal(mrng, t4["wmh_volume_change_cm3"][group], 0.3)
        d_mb = max(0, stochastic_round(_normal(mrng, t4["microbleed_count_change"][group]), mrng))
        d_lac = max(0, stochastic_round(_normal(mrng, t4["lacune_count_change"][group]), mrng))
        fu = VisitTargets(
            plan_wmh(base.wmh.fazekas_total + d_faz, base.wmh.total_cm3 + d_vol, mrng,
                     floor=base.wmh),
            mb + d_mb, lac + d_lac, base.n_punctate + int(mrng.integers(0, 2)),
            bg + int(mrng.integers(0, 2)), base.other_pvs_count + int(mrng.integers(0, 2)),
            calcium_growth=float(mrng.uniform(1.0, 1.15)),
        )
        spec.targets["followup"] = fu
    return spec


def _recalibrate_wmh(specs: list[PatientSpec], visit: str, group: str, target: float) -> None:
    """Shift a group's planned WMH volumes (within each plan's feasible range) to ``target``."""
    members = [s for s in specs if s.group == group and visit in s.targets]
    if not members:
        return
    plans = [s.targets[visit].wmh for s in members]
    floors = [s.targets["baseline"].wmh if visit == "followup" else None for s in members]

    def shifted(delta: float) -> list[WmhPlan]:
        out = []
        for plan, fl in zip(plans, floors, strict=True):
            if plan.deep_grade == 0:  # the PV volume stays where it was drawn
                out.append(plan)
                continue
            v = plan.total_cm3 + delta
            if fl is not None:
                v = max(v, fl.total_cm3 + 0.2)
            out.append(_split(plan.pv_grade, plan.deep_grade, v, plan.pv_volume_cm3, fl))
        return out

    lo_d, hi_d = -30.0, 30.0
    for _ in range(50):
        mid = 0.5 * (lo_d + hi_d)
        mean = float(np.mean([p.total_cm3 for p in shifted(mid)]))
        if mean < target:
            lo_d = mid
        else:
            hi_d = mid
    for s, p in zip(members, shifted(0.5 * (lo_d + hi_d)), strict=True):
        s.targets[visit].wmh = p


def sample_cohort(n_subjects: int, seed: int, follow_up: bool = True) -> list[PatientSpec]:
    """The whole cohort: groups and locations allocated like the paper, then per-patient draws."""
    t = paper_tables()["cohort"]
    groups = allocate(n_subjects, t["groups"])
    locs = allocate(n_subjects, t["locations"])
    rng = np.random.default_rng([seed, 7])
    g_list = [g for g, k in groups.items() for _ in range(k)]
    l_list = [loc for loc, k in locs.items() for _ in range(k)]
    rng.shuffle(g_list)
    rng.shuffle(l_list)
    specs = [sample_patient(seed, i, g, loc, follow_up)
             for i, (g, loc) in enumerate(zip(g_list, l_list, strict=True))]
    t2 = paper_tables()["table2_mri_by_severity"]["wmh_volume_cm3"]
    t4 = paper_tables()["table4_one_year_change_by_severity"]["wmh_volume_change_cm3"]
    for g in GROUPS:
        _recalibrate_wmh(specs, "baseline", g, t2[g][0])
        if follow_up:
            _recalibrate_wmh(specs, "followup", g, t2[g][0] + t4[g][0])
    return specs
