"""Which SVD markers the analyses cover, how each is modelled, and the paper's names for them.

The names are those of :data:`calcisvd.measures.SVD_MEASURES`. ``kind`` picks the adjusted
model (see :mod:`tasks.stats.models`): ``continuous`` (OLS), ``count`` (Poisson/negative
binomial) or ``ordinal`` (proportional-odds logit).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    """One analysed marker."""

    name: str
    label: str
    unit: str
    kind: str  # continuous | count | ordinal
    primary: bool  # reported in the paper's Tables 2-4


MARKERS: tuple[Marker, ...] = (
    Marker("fazekas_total", "Fazekas score (PV + deep)", "0-6", "ordinal", True),
    Marker("microbleed_count", "Microbleeds", "count", "count", True),
    Marker("wmh_volume_cm3", "WMH volume", "cm³", "continuous", True),
    Marker("lacune_count", "Lacunes", "count", "count", True),
    Marker("pv_punctate_grade", "Periventricular punctate grade", "0-3", "ordinal", True),
    Marker("microbleed_volume_mm3", "Microbleed volume", "mm³", "continuous", True),
    Marker("fazekas_pv", "Fazekas periventricular", "0-3", "ordinal", False),
    Marker("fazekas_deep", "Fazekas deep", "0-3", "ordinal", False),
    Marker("wmh_pv_volume_cm3", "Periventricular WMH volume", "cm³", "continuous", False),
    Marker("wmh_deep_volume_cm3", "Deep WMH volume", "cm³", "continuous", False),
    Marker("pvs_count", "Enlarged perivascular spaces", "count", "count", False),
    Marker("svd_score", "Total SVD score", "0-4", "ordinal", False),
)

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
