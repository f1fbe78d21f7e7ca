"""The textual forms of an identifying DICOM value that outputs are searched and scrubbed for.

One home for the rule both sides use: :func:`calcisvd.redact.register_identifiers` replaces
these forms in logs and errors, and the privacy audit (:mod:`tasks.privacy.audit`) searches
every output for them. Minimum lengths (IDs :data:`MIN_ID_LEN`, name parts
:data:`MIN_NAME_PART_LEN` characters) and a list of common words (``common_words.txt``, never
searched alone: a phantom named ``HEAD`` would match every "head") keep the search from
drowning in noise.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIN_ID_LEN = 5
MIN_NAME_PART_LEN = 4


@functools.cache
def common_words() -> frozenset[str]:
    """Lower-case words of ``common_words.txt`` (never searched as a one-word token)."""
    text = Path(__file__).with_name("common_words.txt").read_text(encoding="utf-8")
    return frozenset(w.lower() for line in text.splitlines() if not line.startswith("#")
                     for w in line.split())


def _single_common(token: str, common: frozenset[str]) -> bool:
    return token.strip().lower() in common


def _date_forms(value: str) -> list[str]:
    v = value.strip()
    if re.fullmatch(r"\d{8}", v):
        return [v, f"{v[:4]}-{v[4:6]}-{v[6:]}", f"{v[6:]}.{v[4:6]}.{v[:4]}"]
    return []


def _name_forms(value: str) -> list[str]:
    parts = [p.strip() for p in value.split("^") if p.strip()]
    forms = {value.strip(), " ".join(parts), " ".join(reversed(parts[:2])), ", ".join(parts[:2])}
    if parts and len(parts[0]) >= MIN_NAME_PART_LEN:
        forms.add(parts[0])  # family name
    return [f for f in forms if len(f) >= MIN_NAME_PART_LEN]


def tokens_for(attribute: str, value: str) -> list[str]:
    """The textual forms under which a DICOM PHI value could reappear (common words alone,
    e.g. a PatientName ``HEAD``, are left out: see the module docstring)."""
    common = common_words()
    return [t for t in _tokens_for(attribute, value) if not _single_common(t, common)]


def _tokens_for(attribute: str, value: str) -> list[str]:
    value = str(value or "").strip()
    if not value:
        return []
    if attribute.endswith("Date"):
        return _date_forms(value)
    if attribute.endswith("Name") and attribute != "InstitutionName":
        return _name_forms(value)
    if attribute in ("PatientID", "AccessionNumber"):
        return [value] if len(value) >= MIN_ID_LEN else []
    return [value] if len(value) >= MIN_NAME_PART_LEN else []
