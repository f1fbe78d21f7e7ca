"""Model warnings for people: statsmodels/numpy warnings -> one plain sentence per model.

The fitting routines of statsmodels and numpy warn in their own words ("Maximum Likelihood
optimization failed to converge. Check mle_retvals", "divide by zero encountered in log",
"The MLE may be on the boundary of the parameter space."). The report never prints those;
:func:`plain_sentence` reads the warnings caught around one fit and returns the single
sentence of the most serious kind (order of :data:`RULES`), or ``None`` when there were none.
Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: (pattern on "Category: message", sentence), most serious first
RULES: tuple[tuple[str, str], ...] = (
    (r"separation", "a group or covariate predicts the outcome perfectly (separation); "
                    "its ratio cannot be estimated"),
    (r"converge|ConvergenceWarning|Retrying MixedLM|iteration limit|maxiter",
     "the model did not converge; its estimates are unreliable"),
    (r"singular|not positive definite|Hessian|boundary|rank|cond(ition)? number",
     "the model's fit is degenerate (a variance near zero or collinear covariates); its "
     "standard errors and P values are unreliable"),
    (r"divide by zero|overflow|invalid value|nan|inf",
     "numbers overflowed or were undefined while fitting (extreme or constant values); "
     "its estimates are unreliable"),
)
#: any other warning
OTHER = "the fitting routine warned about this model; treat its estimates with caution"


def _text(w: object) -> str:
    """``Category: message`` of a ``warnings.WarningMessage`` (or a plain string)."""
    if isinstance(w, str):
        return w
    cat = getattr(getattr(w, "category", None), "__name__", "")
    return f"{cat}: {getattr(w, 'message', w)}"


def plain_sentence(caught: Iterable[object], *, converged: bool = True) -> str | None:
    """One sentence for every warning caught around one fit (``None`` when none was, and the
    fit converged). ``converged=False`` (the optimiser's own flag) counts as a warning."""
    texts = [_text(w) for w in caught]
    if not converged:
        texts.append("ConvergenceWarning: not converged")
    texts = [t for t in texts if t.strip()]
    if not texts:
        return None
    for pattern, sentence in RULES:
        if any(re.search(pattern, t, re.IGNORECASE) for t in texts):
            return sentence
    return OTHER
