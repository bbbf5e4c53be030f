"""Metrics against scikit-learn and scipy on seeded arrays."""

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from kerasbert.metrics import classification_metrics, multilabel_metrics, regression_metrics


@pytest.mark.parametrize("seed,classes", [(0, 2), (1, 3), (2, 5)])
def test_classification_matches_sklearn(seed, classes):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, classes, 300))
    p[p == classes - 1] = 0  # a class never predicted
    ours = classification_metrics(y, p, [str(i) for i in range(classes)])
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y, p))
    assert ours["f1_macro"] == pytest.approx(sk.f1_score(y, p, average="macro", zero_division=0))
    assert ours["f1_micro"] == pytest.approx(sk.f1_score(y, p, average="micro"))
    assert ours["precision_macro"] == pytest.approx(
        sk.precision_score(y, p, average="macro", zero_division=0))
    assert ours["recall_macro"] == pytest.approx(sk.recall_score(y, p, average="macro"))
    assert ours["mcc"] == pytest.approx(sk.matthews_corrcoef(y, p))


def test_multilabel_matches_sklearn():
    rng = np.random.default_rng(4)
    y = (rng.random((200, 4)) < 0.3).astype(int)
    p = np.where(rng.random((200, 4)) < 0.8, y, 1 - y)
    ours = multilabel_metrics(y, p, list("abcd"))
    assert ours["f1_micro"] == pytest.approx(sk.f1_score(y, p, average="micro"))
    assert ours["f1_macro"] == pytest.approx(sk.f1_score(y, p, average="macro"))
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y, p))


def test_regression_matches_scipy_with_ties():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 6, 150).astype(float)  # STS-B style scores with many ties
    p = y + rng.normal(0, 1.5, 150)
    ours = regression_metrics(y, p)
    assert ours["pearson"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert ours["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])
