r"""Encrypted inference with linear models.

* :mod:`heedu.inference.ei`: drop-in replacements for ``encrypted-inference==0.9``'s
  ``EIServer`` and ``EILinearRegressionClient``, speaking its SEAL 3.5 wire format.
"""

from .ei import EILinearRegressionClient, EIProtocolError, EIServer

__all__ = ["EILinearRegressionClient", "EIProtocolError", "EIServer"]
