"""Model warnings become one plain sentence; real statsmodels warnings are recognised."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from tasks.stats.model_warnings import OTHER, plain_sentence
from tasks.stats.models import fit_mixed


def test_a_real_convergence_warning_becomes_the_sentence():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    x = sm.add_constant(rng.normal(size=(40, 2)))
    y = (x[:, 1] + rng.normal(size=40) > 0).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sm.Logit(y, x).fit(maxiter=1, disp=0)
    assert caught  # statsmodels did warn
    assert plain_sentence(caught) == "the model did not converge; its estimates are unreliable"


def test_most_serious_kind_wins_and_nothing_gives_none():
    assert plain_sentence([]) is None
    assert plain_sentence([], converged=False).startswith("the model did not converge")
    both = ["RuntimeWarning: divide by zero encountered in log",
            "ConvergenceWarning: Maximum Likelihood optimization failed to converge."]
    assert plain_sentence(both).startswith("the model did not converge")
    assert plain_sentence(["UserWarning: The MLE may be on the boundary of the parameter "
                           "space."]).startswith("the model's fit is degenerate")
    assert plain_sentence(["UserWarning: something new"]) == OTHER


def test_mixed_model_notes_never_carry_raw_warning_text():
    # two subjects per group, identical values: a variance of zero, statsmodels warns
    rows = [{"subject": f"s{i}", "group": g, "time": t, "value": 1.0}
            for i, g in enumerate(["none_mild"] * 3 + ["moderate"] * 3) for t in (0.0, 1.0)]
    out = fit_mixed(pd.DataFrame(rows), "wmh_volume_cm3")
    note = out.get("note", "")
    for raw in ("Warning:", "MLE", "Hessian", "Retrying", "singular matrix"):
        assert raw not in note
    assert note == "" or "unreliable" in note or "not fitted" in note
