r"""Encrypted inference with linear models.

* :mod:`heedu.inference.model`: :class:`LinearModel`, any scikit-learn linear estimator as ``W``, ``b``
* :mod:`heedu.inference.coefficient_layout`: :class:`CoefficientLayout`, inner products as polynomial products
* :mod:`heedu.inference.coefficients`: the default protocol, :class:`EncryptedLinearModel` and
  :class:`InferenceClient` (coefficient encoding: no evaluation keys, flooded answers)
* :mod:`heedu.inference.packing`: :class:`PackingPlan`, the slot layout (hybrid diagonals, baby-step/giant-step)
* :mod:`heedu.inference.slots`: the slot protocol, :class:`SlotLinearModel` and :class:`SlotClient`
  (``EncryptedLinearModel.from_sklearn(model, encoding="slots")``)
* :mod:`heedu.inference.envelope`, :mod:`heedu.inference.bitpacking`, :mod:`heedu.inference.cache`: what
  both protocols share (message headers and key ids, packed residues, a byte-bounded cache)
* :mod:`heedu.inference.ei`: drop-in replacements for ``encrypted-inference==0.9``'s
  ``EIServer`` and ``EILinearRegressionClient``, speaking its SEAL 3.5 wire format
"""

from .coefficient_layout import CoefficientLayout, plan_layout
from .coefficients import EncryptedLinearModel, InferenceClient, InferencePlan, read_plan
from .ei import EILinearRegressionClient, EIProtocolError, EIServer
from .envelope import ProtocolError
from .model import LinearModel
from .packing import PackingPlan
from .slots import SlotClient, SlotLinearModel, SlotPlan

__all__ = [
    "CoefficientLayout",
    "EILinearRegressionClient",
    "EIProtocolError",
    "EIServer",
    "EncryptedLinearModel",
    "InferenceClient",
    "InferencePlan",
    "LinearModel",
    "PackingPlan",
    "ProtocolError",
    "SlotClient",
    "SlotLinearModel",
    "SlotPlan",
    "plan_layout",
    "read_plan",
]
