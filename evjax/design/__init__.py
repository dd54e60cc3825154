"""Design studies (optax, gradients): which coalition to form, which parameters to change.

* :func:`coalition_search`: the coalition maximising a ratio or saving (relaxed membership,
  Adam restarts batched by ``vmap``, rounding, local-search polish), with fixed size and
  must-include / must-exclude stations; :func:`greedy_search`, :func:`random_search` are
  baselines under the same evaluation budget.
* :func:`design_parameters`: the smallest change of one parameter meeting a ratio target
  (augmented Lagrangian with projected Adam steps, verified by re-solving).
* :func:`sensitivity`: d(ratio)/d(parameter) for every parameter, ranked.
"""

from .baselines import greedy_search, random_search
from .objective import Objective, objective
from .parameters import ParameterDesign, design_parameters
from .search import SearchResult, coalition_search
from .sensitivity import Sensitivity, sensitivity

__all__ = [
    "Objective",
    "ParameterDesign",
    "SearchResult",
    "Sensitivity",
    "coalition_search",
    "design_parameters",
    "greedy_search",
    "objective",
    "random_search",
    "sensitivity",
]
