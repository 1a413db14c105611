r"""Encrypted inference with linear models.

* :mod:`heedu.inference.model`: :class:`LinearModel`, any scikit-learn linear estimator as ``W``, ``b``
* :mod:`heedu.inference.packing`: :class:`PackingPlan`, the slot layout (hybrid diagonals, baby-step/giant-step)
* :mod:`heedu.inference.native`: heedu's packed protocol, :class:`EncryptedLinearModel` and :class:`InferenceClient`
* :mod:`heedu.inference.ei`: drop-in replacements for ``encrypted-inference==0.9``'s
  ``EIServer`` and ``EILinearRegressionClient``, speaking its SEAL 3.5 wire format
"""

from .ei import EILinearRegressionClient, EIProtocolError, EIServer
from .model import LinearModel
from .native import EncryptedLinearModel, InferenceClient, InferencePlan, ProtocolError
from .packing import PackingPlan

__all__ = [
    "EILinearRegressionClient",
    "EIProtocolError",
    "EIServer",
    "EncryptedLinearModel",
    "InferenceClient",
    "InferencePlan",
    "LinearModel",
    "PackingPlan",
    "ProtocolError",
]
