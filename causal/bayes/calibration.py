"""Deprecated module name: simulation-based calibration now lives in :mod:`causal.bayes.sbc`.

"Calibration" also names the calibration of the simulator to data (:mod:`simulation.calibration`);
the Bayes side is named ``sbc`` to keep the two apart. Importing this module warns.
"""

from __future__ import annotations

import warnings

from causal.bayes._compat import BayesDeprecationWarning
from causal.bayes.sbc import SBCResult, sbc_hierarchical
from causal.bayes.simulate import simulate_hierarchical

__all__ = ["SBCResult", "sbc_hierarchical", "simulate_hierarchical"]

warnings.warn("causal.bayes.calibration is deprecated; import from causal.bayes.sbc "
              "(sbc_hierarchical, SBCResult) or causal.bayes.simulate (simulate_hierarchical)",
              BayesDeprecationWarning, stacklevel=2)
