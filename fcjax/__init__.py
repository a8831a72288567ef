"""fcjax: Monte-Carlo verification of theories of adversarial fragility, in JAX.

The numerical core is pure: every random draw takes a ``jax.random`` key, nothing does I/O. Points are rows,
``(n, d)``, and norms are numeric ``p`` (``2``, ``jnp.inf``; ``"l2"``/``"linf"`` are aliases) throughout.
The top level holds the general tools; each paper's own constructions live in its namespace
(``fcjax.gao2024``, ``fcjax.simon_gabriel2019``, ``fcjax.jiang2021``); ``fcjax.random_nets`` holds the random
networks of the field's theorems on dimension and fragility, ``fcjax.isoperimetry`` the isoperimetric bounds that hold
for any classifier (Gilmer et al. 2018, Fawzi et al. 2018). Checks of the papers' claims live in
``proofs_check``; the ``fcjax`` command drives them.
"""

# isort: off
# Data, models and training
from .data import Dataset as Dataset
from .data import DataUnavailableError as DataUnavailableError
from .data import load_dataset as load_dataset
from .data_laws import points_from_law as points_from_law
from .ensembles import gaussian_points as gaussian_points
from .ensembles import trial_keys as trial_keys
from .frameworks import as_model as as_model
from .frameworks import as_static as as_static
from .models import CNN as CNN
from .models import MLP as MLP
from .models import ConvNet as ConvNet
from .models import LinearNet as LinearNet
from .models import he_init as he_init
from .models import he_mlp as he_mlp
from .models import linear_net_affine as linear_net_affine
from .models import relu_mlp as relu_mlp
from .train import TrainConfig as TrainConfig
from .train import TrainResult as TrainResult
from .train import cross_entropy as cross_entropy
from .train import fit as fit
from .train import train as train
from .checkpoints import Checkpoints as Checkpoints
from .checkpoints import fit_checkpoints as fit_checkpoints
from .checkpoints import train_checkpoints as train_checkpoints

# Attacks: upper bounds on the robustness radius
from .attacks import AttackResult as AttackResult
from .attacks import deepfool as deepfool
from .attacks import fgsm as fgsm
from .attacks import min_norm as min_norm
from .attacks import pgd as pgd
from .fmn import FMNState as FMNState
from .fmn import best_min_norm as best_min_norm
from .fmn import fmn as fmn
from .fmn import fmn_factory as fmn_factory

# Certificates and exact radii: lower bounds and the exact value
from . import alpha_crown as alpha_crown
from . import decide as decide
from .certify import certified_radius as certified_radius
from .certify import cnn_layers as cnn_layers
from .certify import lipschitz_radius as lipschitz_radius
from .certify import margin_lower_bounds as margin_lower_bounds
from .certify import mlp_layers as mlp_layers
from .exact import ExactResult as ExactResult
from .exact import exact_radius as exact_radius
from .linear import MinPerturbation as MinPerturbation
from .linear import affine_min_perturbation as affine_min_perturbation
from .linear import collapse_linear as collapse_linear
from .linear import pairwise_distance as pairwise_distance

# Robustness, and the geometry of the data
from .geometry import gram as gram
from .geometry import min_pairwise_distance as min_pairwise_distance
from .geometry import nearest_other_distance as nearest_other_distance
from .geometry import nearest_other_index as nearest_other_index
from .geometry import nearest_point_classify as nearest_point_classify
from .geometry import optimal_radius as optimal_radius
from .geometry import pairwise_sq_distances as pairwise_sq_distances
from .geometry import point_radius as point_radius
from .path_integral import PathIntegral as PathIntegral
from .path_integral import gauss_legendre as gauss_legendre
from .path_integral import path_integral as path_integral
from .robust_accuracy import fgsm_accuracy as fgsm_accuracy
from .robust_accuracy import noise_accuracy as noise_accuracy
from .robustness import Robustness as Robustness
from .robustness import nearest_other_class as nearest_other_class
from .robustness import path_compression as path_compression
from .robustness import robustness as robustness

# Gradients and representations
from .gradients import gradient_norms as gradient_norms
from .gradients import input_gradients as input_gradients
from .gradients import lp_norm as lp_norm
from .gradients import pgd_augmentation as pgd_augmentation
from .gradients import pgd_perturbation as pgd_perturbation
from .spectra import PowerLawFit as PowerLawFit
from .spectra import covariance_spectrum as covariance_spectrum
from .spectra import exponential_fit as exponential_fit
from .spectra import participation_ratio as participation_ratio
from .spectra import power_law_fit as power_law_fit

# Statistics and parallel Monte-Carlo
from .parallel import ChunkStore as ChunkStore
from .parallel import chunk_size_for as chunk_size_for
from .parallel import device_summary as device_summary
from .parallel import map_batches as map_batches
from .parallel import map_trials as map_trials
from .parallel import memory_budget as memory_budget
from .stats import Check as Check
from .stats import Estimate as Estimate
from .stats import SlopeFit as SlopeFit
from .stats import Verdict as Verdict
from .stats import binned_means as binned_means
from .stats import cdf_exponent as cdf_exponent
from .stats import clopper_pearson as clopper_pearson
from .stats import jackknife_ci as jackknife_ci
from .stats import ks_2samp as ks_2samp
from .stats import ks_test as ks_test
from .stats import loglog_slope as loglog_slope
from .stats import mean_ci as mean_ci
from .stats import pearson_ci as pearson_ci
from .stats import spearman as spearman
from .stats import partial_spearman_ci as partial_spearman_ci
from .stats import spearman_ci as spearman_ci

# Each paper's own constructions
from . import gao2024 as gao2024
from . import jiang2021 as jiang2021
from . import simon_gabriel2019 as simon_gabriel2019

# Random networks of the field's theorems (Bubeck et al. 2021, ...), other architectures as exact chains, and the
# bracketed distance of an input to a scalar network's boundary (De Palma et al. 2021)
from . import random_nets as random_nets
from . import random_archs as random_archs
from . import boundary_distance as boundary_distance

# Isoperimetric bounds for any classifier (Gilmer et al. 2018, Fawzi et al. 2018)
from . import isoperimetry as isoperimetry
# isort: on

__version__ = "0.1.0"

__all__ = [
    "CNN",
    "MLP",
    "AttackResult",
    "Check",
    "Checkpoints",
    "ChunkStore",
    "ConvNet",
    "DataUnavailableError",
    "Dataset",
    "Estimate",
    "ExactResult",
    "FMNState",
    "LinearNet",
    "MinPerturbation",
    "PathIntegral",
    "PowerLawFit",
    "Robustness",
    "SlopeFit",
    "TrainConfig",
    "TrainResult",
    "Verdict",
    "affine_min_perturbation",
    "alpha_crown",
    "as_model",
    "as_static",
    "best_min_norm",
    "binned_means",
    "boundary_distance",
    "cdf_exponent",
    "certified_radius",
    "chunk_size_for",
    "clopper_pearson",
    "cnn_layers",
    "collapse_linear",
    "covariance_spectrum",
    "cross_entropy",
    "decide",
    "deepfool",
    "device_summary",
    "exact_radius",
    "exponential_fit",
    "fgsm",
    "fgsm_accuracy",
    "fit",
    "fit_checkpoints",
    "fmn",
    "fmn_factory",
    "gao2024",
    "gauss_legendre",
    "gaussian_points",
    "gradient_norms",
    "gram",
    "he_init",
    "he_mlp",
    "input_gradients",
    "isoperimetry",
    "jackknife_ci",
    "jiang2021",
    "ks_2samp",
    "ks_test",
    "linear_net_affine",
    "lipschitz_radius",
    "load_dataset",
    "loglog_slope",
    "lp_norm",
    "map_batches",
    "map_trials",
    "margin_lower_bounds",
    "mean_ci",
    "memory_budget",
    "min_norm",
    "min_pairwise_distance",
    "mlp_layers",
    "nearest_other_class",
    "nearest_other_distance",
    "nearest_other_index",
    "nearest_point_classify",
    "noise_accuracy",
    "optimal_radius",
    "pairwise_distance",
    "pairwise_sq_distances",
    "partial_spearman_ci",
    "participation_ratio",
    "path_compression",
    "path_integral",
    "pearson_ci",
    "pgd",
    "pgd_augmentation",
    "pgd_perturbation",
    "point_radius",
    "points_from_law",
    "power_law_fit",
    "random_archs",
    "random_nets",
    "relu_mlp",
    "robustness",
    "simon_gabriel2019",
    "spearman",
    "spearman_ci",
    "train",
    "train_checkpoints",
    "trial_keys",
]
