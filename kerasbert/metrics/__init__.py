"""Metrics computed over the whole dev set (numpy in, floats out)."""

from kerasbert.metrics.classification import (  # noqa: F401
    classification_metrics, confusion_matrix, multilabel_metrics, regression_metrics)
from kerasbert.metrics.sequence_labeling import sequence_labeling_metrics  # noqa: F401
from kerasbert.metrics.squad import squad_metrics  # noqa: F401
