"""Which SVD markers the analyses cover, how each is modelled, and the paper's names for them.

The names, labels, units and model kinds are those of
:data:`calcisvd.measures.MARKER_REGISTRY`. ``kind`` picks the adjusted
model (see :mod:`tasks.stats.models`): ``continuous`` (OLS), ``count`` (Poisson/negative
binomial) or ``ordinal`` (proportional-odds logit).
"""

from __future__ import annotations

from dataclasses import dataclass

from calcisvd.measures import marker_spec


@dataclass(frozen=True)
class Marker:
    """One analysed marker."""

    name: str
    label: str
    unit: str
    kind: str  # continuous | count | ordinal
    primary: bool  # reported in the paper's Tables 2-4


#: the analysed SVD markers in the order the tables report them; label, unit, model kind and
#: whether the paper reports it come from :data:`calcisvd.measures.MARKER_REGISTRY`
ORDER: tuple[str, ...] = (
    "fazekas_total", "microbleed_count", "wmh_volume_cm3", "lacune_count", "pv_punctate_grade",
    "microbleed_volume_mm3", "fazekas_pv", "fazekas_deep", "wmh_pv_volume_cm3",
    "wmh_deep_volume_cm3", "pvs_count", "svd_score",
)


def _from_registry(name: str) -> Marker:
    spec = marker_spec(name, "svd_measures")
    if spec.kind is None:
        raise ValueError(f"{name} has no model kind in calcisvd.measures.MARKER_REGISTRY")
    return Marker(spec.name, spec.label, spec.unit.replace("^3", "³"), spec.kind, spec.primary)


MARKERS: tuple[Marker, ...] = tuple(_from_registry(n) for n in ORDER)

#: periventricular grade categories as the paper tabulates them (grades 0-1 pooled)
PV_GRADE_CATEGORIES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("g0_1", (0, 1)), ("g2", (2,)), ("g3", (3,)),
)

#: the paper's Table 4 rows (change scores)
CHANGE_MARKERS: tuple[str, ...] = (
    "fazekas_total", "microbleed_count", "wmh_volume_cm3", "lacune_count",
    "pv_punctate_grade", "microbleed_volume_mm3",
)

CLINICAL_BINARY: tuple[tuple[str, str], ...] = (
    ("smoking", "Smoking"), ("hypertension", "Hypertension"), ("diabetes", "Diabetes"),
    ("hyperlipidaemia", "Hyperlipidaemia"), ("heart_disease", "Heart disease"),
    ("prior_stroke", "Prior stroke"),
)


def marker(name: str) -> Marker:
    """The :class:`Marker` called ``name``."""
    for m in MARKERS:
        if m.name == name:
            return m
    raise KeyError(name)


def available(columns, names=None) -> list[Marker]:
    """Markers (optionally limited to ``names``) present as columns."""
    cols = set(columns)
    return [m for m in MARKERS if m.name in cols and (names is None or m.name in names)]
