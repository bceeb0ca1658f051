"""Accuracies and the proxy A-distance between source and target features."""

from __future__ import annotations

import warnings

import numpy as np
import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How often the arg-max class is the label, over the last example dimension: (..., n, C) logits and
    (..., n) labels give (...) accuracies, so one call serves a run or K runs side by side."""
    return (logits.argmax(dim=-1) == labels).float().mean(dim=-1)


def domain_accuracy(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """How often the domain classifier tells the domains apart (source = 0, target = 1), over the last
    dimension (leading dimensions are runs side by side).

    Balanced: the mean of the per-domain accuracies, so 0.5 means guessing whatever the sizes.
    """
    src = (source_logits < 0).float().mean(dim=-1)
    tgt = (target_logits >= 0).float().mean(dim=-1)
    return (src + tgt) / 2


def mean_and_std(runs: list[dict], keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (ddof 0) over runs (seeds) of each metric in `keys`."""
    return {k: {"mean": float(np.mean([r[k] for r in runs])), "std": float(np.std([r[k] for r in runs]))} for k in keys}


def proxy_a_distance(source_features: np.ndarray, target_features: np.ndarray, seed: int = 0) -> float:
    """PAD = 2 (1 - 2 err), err the held-out error of a linear SVM telling source from target.

    As in Ganin et al. (JMLR 2016): half of each domain trains the classifier, half tests it.
    Near 2: the domains are separable; near 0: indistinguishable. When err > 0.5 (chance plus
    noise) the formula goes negative, which means nothing more than 0; we clip to [0, 2].
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x = np.concatenate([source_features, target_features]).reshape(len(source_features) + len(target_features), -1)
    d = np.concatenate([np.zeros(len(source_features)), np.ones(len(target_features))])
    x_train, x_test, d_train, d_test = train_test_split(x, d, test_size=0.5, stratify=d, random_state=seed)
    clf = make_pipeline(StandardScaler(), LinearSVC(C=1.0, max_iter=5000))
    with warnings.catch_warnings():
        # Unconverged on overlapping domains is expected (that is the adapted case); the error still counts.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, d_train)
    err = 1.0 - clf.score(x_test, d_test)
    return float(np.clip(2.0 * (1.0 - 2.0 * err), 0.0, 2.0))


PROBE_NEIGHBOURS = 15


def domain_probe_accuracy(source_features: np.ndarray, target_features: np.ndarray, seed: int = 0) -> float:
    """How well a fresh classifier, trained after the fact, tells source from target features: the
    balanced accuracy of a k-nearest-neighbour classifier (k = 15, standardised features) trained on
    half of each domain and tested on the other half. 50% means the domains are mixed.

    Unlike the trained domain classifier, which the feature extractor learned to beat, this probe has
    not been fought against; and unlike the linear SVM of the proxy A-distance it sees non-linear
    differences. So a domain classifier at 50% can sit beside a probe well above 50%: the adversary is
    beaten where it stands, while the features may still show the domain."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source_features, target_features]).reshape(len(source_features) + len(target_features), -1)
    d = np.concatenate([np.zeros(len(source_features)), np.ones(len(target_features))])
    x_train, x_test, d_train, d_test = train_test_split(x, d, test_size=0.5, stratify=d, random_state=seed)
    k = max(1, min(PROBE_NEIGHBOURS, len(x_train) - 1))
    probe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k)).fit(x_train, d_train)
    return float(balanced_accuracy_score(d_test, probe.predict(x_test)))
