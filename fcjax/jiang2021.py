"""Jiang, Zhou & Huang (2021), manifold smoothness: local-error training with fixed readouts, apart from the tools.

The general spectrum tools (``covariance_spectrum``, ``power_law_fit``, ...) stay in ``fcjax``.
"""

from .local_errors import LayerClassifier as LayerClassifier
from .local_errors import LocalErrorConfig as LocalErrorConfig
from .local_errors import LocalErrorMLP as LocalErrorMLP
from .local_errors import LocalErrorResult as LocalErrorResult
from .local_errors import fixed_readouts as fixed_readouts
from .local_errors import layer_logits as layer_logits
from .local_errors import local_error_mlp as local_error_mlp
from .local_errors import local_loss as local_loss
from .local_errors import representations as representations
from .local_errors import train_local as train_local
from .local_errors import train_local_snapshots as train_local_snapshots

__all__ = [
    "LayerClassifier",
    "LocalErrorConfig",
    "LocalErrorMLP",
    "LocalErrorResult",
    "fixed_readouts",
    "layer_logits",
    "local_error_mlp",
    "local_loss",
    "representations",
    "train_local",
    "train_local_snapshots",
]
