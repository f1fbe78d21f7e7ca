"""Site heuristics: local series names mapped to kinds, in a dcm2bids-style JSON config.

The file is the ``descriptions`` list people already write for dcm2bids
(https://unfmontreal.github.io/Dcm2Bids/ , "How to create a configuration file")::

    {"descriptions": [
      {"datatype": "anat", "suffix": "T1w",
       "criteria": {"SeriesDescription": "*MPRAGE*", "ImageType": ["ORIGINAL", "*"]}},
      {"datatype": "dwi", "suffix": "dwi", "criteria": {"SeriesDescription": "dti_*"}}
    ]}

Criteria are shell-style patterns (``fnmatch``, case-insensitive) on DICOM keywords; a list
pattern matches a multi-valued field element by element. The first description whose
criteria all match decides: ``anat`` T1w/T2w/FLAIR/T2starw (or ``swi``) and ``ct`` are
ingested as that kind; any other datatype or suffix (dwi, func, perf, fmap, ...) is skipped
with the rule named in the reason. The file is read at the edge (``<home>/heuristics.json``
or the ``CALCISVD_HEURISTICS`` setting) and passed down as a tuple of rules.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from tasks.ingest.classify import Classification

_KINDS = {"t1w": "T1w", "t2w": "T2w", "flair": "FLAIR", "t2starw": "T2starw",
          "swi": "T2starw", "ct": "ct"}


def load_heuristics(path: Path | None) -> tuple[dict, ...]:
    """The ``descriptions`` of a dcm2bids-style config; ``()`` when ``path`` is absent.

    Raises ``ValueError`` naming the file when it is not such a config.
    """
    if path is None or not Path(path).is_file():
        return ()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rules = doc["descriptions"]
        if not isinstance(rules, list) or not all(
                isinstance(r, dict) and isinstance(r.get("criteria"), dict) for r in rules):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: not a dcm2bids-style config (a 'descriptions' list of "
                         "objects with 'datatype', 'suffix' and 'criteria')") from None
    return tuple(rules)


def _match(pattern, value) -> bool:
    if isinstance(pattern, list):
        values = value if isinstance(value, list | tuple) else str(value or "").split("\\")
        return len(values) >= len(pattern) and all(
            _match(p, v) for p, v in zip(pattern, values, strict=False))
    if isinstance(value, list | tuple):
        value = "\\".join(map(str, value))
    return fnmatch.fnmatch(str(value or "").lower(), str(pattern).lower())


def match_heuristics(rules: tuple[dict, ...], fields: dict) -> Classification | None:
    """The classification of the first rule whose criteria all match ``fields``, or None."""
    for n, rule in enumerate(rules):
        crit = rule.get("criteria") or {}
        if crit and all(_match(p, fields.get(k, "")) for k, p in crit.items()):
            datatype = str(rule.get("datatype", "")).lower()
            suffix = str(rule.get("suffix", ""))
            kind = _KINDS.get(suffix.lower())
            label = f"site heuristic #{n + 1} ({datatype}/{suffix})"
            if kind and datatype in {"anat", "ct", ""}:
                return Classification(kind, label)
            return Classification(None, f"{label}: not used by calcisvd")
    return None
