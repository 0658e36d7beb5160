"""Classification metrics: accuracy, confusion matrix, per-class precision and recall."""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal labels.

    Examples
    --------
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise CnnconvError(f"labels must be two 1-D arrays of one length, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise CnnconvError("accuracy of no samples is undefined")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted class.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise CnnconvError(f"labels must be two 1-D arrays of one length, got {y_true.shape} and {y_pred.shape}")
    for labels in (y_true, y_pred):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise CnnconvError(f"labels must be in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def precision_recall(cm) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (column-wise) and recall (row-wise) of a confusion matrix.

    A class never predicted has precision 0, a class with no samples recall 0
    (scikit-learn's ``zero_division=0``).

    Examples
    --------
    >>> p, r = precision_recall(np.array([[1, 0], [1, 1]]))
    >>> p.tolist(), r.tolist()
    ([0.5, 1.0], [1.0, 0.5])
    """
    cm = np.asarray(cm, dtype=np.float64)
    diag = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(diag, predicted, out=np.zeros_like(diag), where=predicted > 0)
    recall = np.divide(diag, actual, out=np.zeros_like(diag), where=actual > 0)
    return precision, recall
