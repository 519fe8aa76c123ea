"""Temperature scaling and the out-of-scope threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.calibrate import choose_threshold, fit_temperature, rejected


def test_fit_temperature_recovers_overconfidence():
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 5, generator=g) * 2
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    assert abs(fit_temperature(true_logits * 3, labels) - 3.0) < 0.3
    assert abs(fit_temperature(true_logits, labels) - 1.0) < 0.1


def test_threshold_respects_the_false_rejection_budget():
    rng = np.random.default_rng(0)
    oos = 2
    inscope = rng.uniform(0.5, 1.0, 200)
    outscope = rng.uniform(0.34, 0.6, 100)  # overlaps the in-scope confidences above 0.5
    probs = np.zeros((300, 3))
    probs[:200, 0] = inscope
    probs[:200, 1] = 1 - inscope
    probs[200:, 1] = outscope
    probs[200:, 0] = (1 - outscope) / 2
    probs[200:, 2] = (1 - outscope) / 2
    labels = np.array([0] * 200 + [oos] * 100)
    t = choose_threshold(probs, labels, oos, max_false_rejection=0.05)
    rej = rejected(probs, t, oos)
    assert rej[:200].mean() <= 0.05
    assert rej[200:].mean() > 0.5
    looser = choose_threshold(probs, labels, oos, max_false_rejection=0.2)
    assert looser >= t and rejected(probs, looser, oos)[200:].mean() >= rej[200:].mean()


def test_no_out_of_scope_examples_means_no_threshold():
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    assert choose_threshold(probs, np.array([0, 1]), -1, max_false_rejection=0.05) == 0.0


def test_a_grouped_budget_holds_in_every_group_of_in_scope_rows():
    rng = np.random.default_rng(1)
    oos = 2
    heard, unheard = rng.uniform(0.6, 1.0, 200), rng.uniform(0.35, 0.9, 200)  # unheard wording: less sure
    outscope = rng.uniform(0.34, 0.7, 100)
    top = np.concatenate([heard, unheard, outscope])
    probs = np.zeros((500, 3))
    probs[:400, 0], probs[:400, 1] = top[:400], 1 - top[:400]
    probs[400:, 1], probs[400:, 0] = outscope, 1 - outscope
    labels = np.array([0] * 400 + [oos] * 100)
    groups = np.array([0] * 200 + [1] * 200 + [0] * 100)
    pooled = choose_threshold(probs, labels, oos, max_false_rejection=0.05)
    grouped = choose_threshold(probs, labels, oos, max_false_rejection=0.05, groups=groups)
    assert rejected(probs, pooled, oos)[200:400].mean() > 0.05  # the pooled budget breaks on unheard rows
    assert rejected(probs, grouped, oos)[200:400].mean() <= 0.05
    assert rejected(probs, grouped, oos)[:200].mean() <= 0.05 and grouped < pooled


def test_the_out_of_scope_rule_rejects_by_the_out_of_scope_probability_within_the_budget():
    # Out-of-scope rows are sure of some intent (a low top probability would not catch them) yet give
    # out_of_scope a share that in-scope rows rarely give it.
    rng = np.random.default_rng(2)
    oos = 2
    share = np.concatenate([rng.uniform(0.0, 0.1, 200), rng.uniform(0.08, 0.3, 100)])
    probs = np.zeros((300, 3))
    probs[:, 2] = share
    probs[:, 0] = rng.uniform(0.55, 0.65, 300)  # the arg-max, as sure for both kinds of row
    probs[:, 1] = 1 - probs[:, 0] - share
    labels = np.array([0] * 200 + [oos] * 100)
    by_max = choose_threshold(probs, labels, oos, max_false_rejection=0.05)
    tau = choose_threshold(probs, labels, oos, max_false_rejection=0.05, rule="oos_probability")
    rej = rejected(probs, 0.0, oos, tau)
    assert rej[:200].mean() <= 0.05 and rej[200:].mean() > 0.8
    assert rejected(probs, by_max, oos)[200:].mean() < 0.2  # the arg-max rule cannot tell them apart
    assert (
        choose_threshold(probs[:200], labels[:200], oos, max_false_rejection=0.05, rule="oos_probability")
        == 1.0
    )
    with pytest.raises(ValueError, match="rule must be one of"):
        choose_threshold(probs, labels, oos, max_false_rejection=0.05, rule="energy")
