"""Design studies: coalition search, parameter design and sensitivities (optax, gradients)."""

from .baselines import greedy_search, random_search
from .objective import Objective, objective
from .search import SearchResult, coalition_search
