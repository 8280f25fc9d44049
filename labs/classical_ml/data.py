"""The lab's data: datasets scikit-learn ships, generated blobs, ShopStream CTR.

    from labs.classical_ml.data import load_dataset, split, standardize
    X, y, names = load_dataset("breast_cancer")  # shipped with scikit-learn
    X_tr, X_va, y_tr, y_va = split(X, y, val_share=0.3, seed=0)
    X_tr, X_va = standardize(X_tr, X_va)  # statistics of the training part only

Nothing here is an exercise. scikit-learn is used only as a *data source*
(its bundled CSVs, no download); the estimators are ours.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("iris", "wine", "breast_cancer", "digits", "diabetes")


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One of scikit-learn's bundled datasets as ``(X, y, feature_names)``.

    ``iris`` (150 x 4, 3 classes), ``wine`` (178 x 13, 3 classes, features on
    scales from 0.1 to 1,680), ``breast_cancer`` (569 x 30, 2 classes),
    ``digits`` (1,797 x 64, 10 classes), ``diabetes`` (442 x 10, regression).
    """
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}.")
    bunch = loaders[name]()
    names = [str(n) for n in bunch.feature_names]
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names


def split(
    X: np.ndarray, y: np.ndarray, val_share: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split into ``(X_train, X_val, y_train, y_val)``.

    Every row lands in exactly one part; ``val_share`` of them (rounded) in
    the validation part.
    """
    if not 0.0 < val_share < 1.0:
        raise ValueError(f"val_share must be in (0, 1), got {val_share}.")
    n = len(X)
    n_val = round(n * val_share)
    if n_val == 0 or n_val == n:
        raise ValueError(
            f"val_share={val_share} of {n} rows leaves one part empty; "
            "use more rows or a share nearer 0.5."
        )
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return X[train], X[val], y[train], y[val]


def standardize(X_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale to zero mean and unit variance with the *training* statistics.

    ``z = (x - mean_train) / std_train`` (population std, like scikit-learn's
    ``StandardScaler``); a constant column keeps scale 1 instead of dividing
    by zero. Returns the scaled training matrix followed by each of ``others``.
    """
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple((X - mean) / std for X in (X_train, *others))


def make_blobs(
    n_samples: int,
    n_centers: int,
    n_features: int = 2,
    spread: float = 1.0,
    box: float = 10.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs: ``(X, true_labels)``.

    Centres are uniform in ``[-box, box]^d``; each point is its centre plus
    ``N(0, spread^2 I)`` noise. Blob sizes differ by at most one.
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-box, box, size=(n_centers, n_features))
    labels = np.arange(n_samples) % n_centers
    rng.shuffle(labels)
    X = centers[labels] + spread * rng.standard_normal((n_samples, n_features))
    return X, labels


def shopstream_ctr(
    preset: str = "tiny", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """A few static features of ShopStream impressions for a CTR model.

    Returns ``(X, clicked, feature_names, p_click)``: one row per clean
    impression with ``log2(1 + position)``, ``log(price)``, the user's segment
    and the item's category (one-hot, first level dropped so the intercept
    stays identifiable). ``p_click`` is the hidden truth, for the
    Bayes-optimal AUC only: never a feature.

    Corrupted rows (``common.shopstream.dirty_mask``) are dropped and the
    count logged; every clean impression is kept.
    """
    from common.shopstream import dirty_mask, load

    ds = load(preset, seed=seed)
    impressions = ds.impressions
    dirty = dirty_mask(impressions)
    log.info(
        "shopstream %s: dropping %d corrupted of %d impressions",
        preset,
        int(dirty.sum()),
        len(impressions),
    )
    rows = impressions.loc[
        ~dirty, ["user_id", "item_id", "position", "clicked", "p_click"]
    ]
    rows = rows.merge(ds.users[["user_id", "segment"]], on="user_id", how="left")
    rows = rows.merge(
        ds.items[["item_id", "category_id", "price"]], on="item_id", how="left"
    )
    missing = rows[["segment", "category_id", "price"]].isna().any(axis=1)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} clean impressions have no user or item row; "
            "delete the cached dataset folder (common.shopstream.dataset_dir) and load again."
        )
    columns = [np.log2(1.0 + rows["position"].to_numpy(np.float64))]
    names = ["log2(1+position)"]
    columns.append(np.log(rows["price"].to_numpy(np.float64)))
    names.append("log(price)")
    for field in ("segment", "category_id"):
        values = rows[field].to_numpy()
        for level in np.unique(values)[1:]:
            columns.append((values == level).astype(np.float64))
            names.append(f"{field}={level}")
    X = np.column_stack(columns)
    clicked = rows["clicked"].to_numpy(np.float64)
    p_click = rows["p_click"].to_numpy(np.float64)
    return X, clicked, names, p_click
