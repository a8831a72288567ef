"""Gao et al. (arXiv 2406.16200), feature compression: the paper's own constructions, apart from the general tools.

Everything here works on the paper's data matrix ``X = [x_1, ..., x_d]`` (points in *columns*, as the theorems are
stated); the general API takes points as rows, so ``X = fcjax.gaussian_points(key, d).T``.
"""

from . import trials as trials
from .compression import TrailingQR as TrailingQR
from .compression import TwoColumnQR as TwoColumnQR
from .compression import TwoProbeBound as TwoProbeBound
from .compression import compression_ratio as compression_ratio
from .compression import gram_schmidt2 as gram_schmidt2
from .compression import interpolating_network as interpolating_network
from .compression import last_two_probes as last_two_probes
from .compression import positive_qr as positive_qr
from .compression import theorem1_perturbation as theorem1_perturbation
from .compression import theorem1_vector as theorem1_vector
from .compression import trailing_from_probes as trailing_from_probes
from .compression import trailing_qr as trailing_qr
from .compression import two_probe_bound as two_probe_bound
from .ensembles import gaussian_product as gaussian_product
from .ensembles import hypercube_signs as hypercube_signs
from .ensembles import sign_cube_data as sign_cube_data
from .geometry import chernoff_union_bound as chernoff_union_bound
from .geometry import sign_cube_radius as sign_cube_radius

__all__ = [
    "TrailingQR",
    "TwoColumnQR",
    "TwoProbeBound",
    "chernoff_union_bound",
    "compression_ratio",
    "gaussian_product",
    "gram_schmidt2",
    "hypercube_signs",
    "interpolating_network",
    "last_two_probes",
    "positive_qr",
    "sign_cube_data",
    "sign_cube_radius",
    "theorem1_perturbation",
    "theorem1_vector",
    "trailing_from_probes",
    "trailing_qr",
    "trials",
    "two_probe_bound",
]
