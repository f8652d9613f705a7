"""A large shop's purchase models are compared, and their starting points tried, on a fixed sample of its
customers; the final fit still ends at the optimum of everyone's likelihood (``core.predictions_forecast``)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core import predictions_forecast as F
from tests.segments import cdnow


@pytest.fixture(scope="module")
def now() -> F.History:
    return cdnow.history(cdnow.load())


def test_a_sample_is_the_same_every_time_and_only_for_a_large_shop() -> None:
    assert F.sample_of(1000, limit=1000) is None
    picked = F.sample_of(5000, limit=1000)
    assert picked is not None and len(picked) == len(set(picked.tolist())) == 1000
    assert np.all(np.diff(picked) > 0) and picked[-1] < 5000
    assert np.array_equal(picked, F.sample_of(5000, limit=1000))


@pytest.mark.parametrize("kind", ["mbgnbd", "pnbd"])
def test_starts_tried_on_a_sample_end_at_everyones_optimum(now: F.History, kind: str, monkeypatch) -> None:
    everyone = F.fit_orders(kind, now, spend=True, sample=10**9)
    sizes: list[int] = []
    optimum = F._optimum

    def counted(kind: str, history: F.History, *args):
        sizes.append(len(history))
        return optimum(kind, history, *args)

    monkeypatch.setattr(F, "_optimum", counted)
    sampled = F.fit_orders(kind, now, spend=True, sample=500)
    assert sizes == [500, len(now)]  # the starts on the sample, then one run on everyone
    assert sampled.params == pytest.approx(everyone.params, rel=2e-3)
    assert sampled.effect == pytest.approx(everyone.effect, abs=2e-3)
    on_sample_only = F.fit_orders(kind, now.take(F.sample_of(len(now), 500)), spend=True)
    assert on_sample_only.params != pytest.approx(everyone.params, rel=2e-3)  # the sample alone is not enough


def test_candidates_are_compared_on_the_sample_and_rank_everyone(monkeypatch) -> None:
    window = F.window_days((cdnow.END - cdnow.START).days)
    now = cdnow.history(cdnow.load(cdnow.END, cdnow.END))
    before = cdnow.history(cdnow.load(cdnow.END - timedelta(days=window), cdnow.END))
    fitted: list[int] = []
    ranked: list[int] = []
    fit_orders, held_out_scores = F.fit_orders, F.held_out_scores

    def fit(kind: str, history: F.History, *args, **kwargs):
        fitted.append(len(history))
        return fit_orders(kind, history, *args, **kwargs)

    def scores(model, before: F.History, *args):
        ranked.append(len(before))
        return held_out_scores(model, before, *args)

    monkeypatch.setattr(F, "SAMPLE", 800)
    monkeypatch.setattr(F, "fit_orders", fit)
    monkeypatch.setattr(F, "held_out_scores", scores)
    kind, spend, found = F.choose(before, now, window)
    assert len(before) > 800
    assert fitted == [800] * len(fitted) and len(fitted) == 2 * len(F.KINDS)  # every candidate, on the sample
    assert ranked == [len(before)] * len(ranked) and len(found) == len(ranked)  # each ranks every customer
    assert (kind, spend) in {(k, s) for k in F.KINDS for s in (False, True)}


@pytest.mark.parametrize("kind", ["mbgnbd", "pnbd"])
def test_the_fit_with_the_covariate_starts_from_the_fit_without(now: F.History, kind: str, monkeypatch) -> None:
    """Started from the nested model's optimum (the fit without the covariate), the fit with it reaches the
    optimum it reaches from the prior's centre, in fewer steps; ``choose`` starts each such candidate so."""
    steps: list[int] = []
    optimum = F._optimum

    def counted(*args):
        result = optimum(*args)
        steps.append(result.nfev)
        return result

    monkeypatch.setattr(F, "_optimum", counted)
    plain = F.fit_orders(kind, now, spend=False, starts=1)
    cold = F.fit_orders(kind, now, spend=True, starts=1)
    warm = F.fit_orders(kind, now, spend=True, starts=1, start=plain)
    assert warm.params == pytest.approx(cold.params, rel=5e-3)
    assert warm.effect == pytest.approx(cold.effect, abs=5e-3)
    assert steps[2] < steps[1], steps

    started: list[tuple[str, bool, F.OrderModel | None]] = []
    fit = F.fit_orders

    def recorded(kind: str, history: F.History, spend: bool = False, **kwargs):
        model = fit(kind, history, spend, **kwargs)
        started.append((kind, spend, kwargs.get("start")))
        return model

    monkeypatch.setattr(F, "fit_orders", recorded)
    window = F.window_days((cdnow.END - cdnow.START).days)
    before = cdnow.history(cdnow.load(cdnow.END - timedelta(days=window), cdnow.END))
    F.choose(before, cdnow.history(cdnow.load(cdnow.END, cdnow.END)), window)
    assert [(k, s) for k, s, _ in started] == [(k, s) for k in F.KINDS for s in (False, True)]
    for (kind_plain, _, first), (kind_spend, _, second) in zip(started[::2], started[1::2], strict=True):
        assert first is None and second is not None and second.kind == kind_plain == kind_spend
        assert second.effect == 0.0  # the fit without the covariate
