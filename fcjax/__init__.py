"""fcjax: Monte-Carlo verification of theories of adversarial fragility, in JAX.

The numerical core is pure: every random draw takes a ``jax.random`` key, nothing does I/O. Checks of the papers'
claims live in ``proofs_check``; the ``fcjax`` command drives them.
"""

from . import alpha_crown as alpha_crown
from . import decide as decide
from .attacks import AttackResult as AttackResult
from .attacks import deepfool as deepfool
from .attacks import fgsm as fgsm
from .attacks import min_norm as min_norm
from .attacks import pgd as pgd
from .certify import certified_radius as certified_radius
from .certify import cnn_layers as cnn_layers
from .certify import lipschitz_radius as lipschitz_radius
from .certify import margin_lower_bounds as margin_lower_bounds
from .certify import mlp_layers as mlp_layers
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
from .data import Dataset as Dataset
from .data import DataUnavailableError as DataUnavailableError
from .data import load_dataset as load_dataset
from .ensembles import gaussian_points as gaussian_points
from .ensembles import gaussian_product as gaussian_product
from .ensembles import hypercube_signs as hypercube_signs
from .ensembles import sign_cube_data as sign_cube_data
from .ensembles import trial_keys as trial_keys
from .exact import ExactResult as ExactResult
from .exact import exact_radius as exact_radius
from .fmn import FMNState as FMNState
from .fmn import best_min_norm as best_min_norm
from .fmn import fmn as fmn
from .fmn import fmn_factory as fmn_factory
from .frameworks import as_model as as_model
from .frameworks import as_static as as_static
from .geometry import chernoff_union_bound as chernoff_union_bound
from .geometry import gram as gram
from .geometry import min_pairwise_distance as min_pairwise_distance
from .geometry import nearest_other_distance as nearest_other_distance
from .geometry import nearest_other_index as nearest_other_index
from .geometry import nearest_point_classify as nearest_point_classify
from .geometry import optimal_radius as optimal_radius
from .geometry import pairwise_sq_distances as pairwise_sq_distances
from .geometry import point_radius as point_radius
from .geometry import sign_cube_radius as sign_cube_radius
from .gradients import adversarial_augmentation as adversarial_augmentation
from .gradients import calibrated_eps as calibrated_eps
from .gradients import damage as damage
from .gradients import dual_direction as dual_direction
from .gradients import first_order_damage as first_order_damage
from .gradients import gradient_norms as gradient_norms
from .gradients import gradient_penalty as gradient_penalty
from .gradients import input_gradients as input_gradients
from .gradients import lp_norm as lp_norm
from .linear import MinPerturbation as MinPerturbation
from .linear import affine_min_perturbation as affine_min_perturbation
from .linear import collapse_linear as collapse_linear
from .linear import pairwise_distance as pairwise_distance
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
from .models import CNN as CNN
from .models import MLP as MLP
from .models import ConvNet as ConvNet
from .models import LinearNet as LinearNet
from .models import he_init as he_init
from .models import he_mlp as he_mlp
from .models import linear_net_affine as linear_net_affine
from .models import protocol_net as protocol_net
from .models import relu_mlp as relu_mlp
from .parallel import ChunkStore as ChunkStore
from .parallel import chunk_size_for as chunk_size_for
from .parallel import device_summary as device_summary
from .parallel import map_trials as map_trials
from .parallel import memory_budget as memory_budget
from .path_integral import PathIntegral as PathIntegral
from .path_integral import gauss_legendre as gauss_legendre
from .path_integral import path_integral as path_integral
from .robust_accuracy import fgsm_accuracy as fgsm_accuracy
from .robust_accuracy import noise_accuracy as noise_accuracy
from .robustness import Robustness as Robustness
from .robustness import nearest_other_class as nearest_other_class
from .robustness import robustness as robustness
from .spectra import PowerLawFit as PowerLawFit
from .spectra import covariance_spectrum as covariance_spectrum
from .spectra import exponential_fit as exponential_fit
from .spectra import participation_ratio as participation_ratio
from .spectra import power_law_fit as power_law_fit
from .stats import Check as Check
from .stats import Estimate as Estimate
from .stats import SlopeFit as SlopeFit
from .stats import Verdict as Verdict
from .stats import binned_means as binned_means
from .stats import clopper_pearson as clopper_pearson
from .stats import jackknife_ci as jackknife_ci
from .stats import ks_2samp as ks_2samp
from .stats import ks_test as ks_test
from .stats import loglog_slope as loglog_slope
from .stats import mean_ci as mean_ci
from .stats import pearson_ci as pearson_ci
from .stats import spearman as spearman
from .stats import spearman_ci as spearman_ci
from .train import TrainConfig as TrainConfig
from .train import TrainResult as TrainResult
from .train import cross_entropy as cross_entropy
from .train import fit as fit
from .train import train as train

__version__ = "0.1.0"

__all__ = [
    "CNN",
    "MLP",
    "AttackResult",
    "Check",
    "ChunkStore",
    "ConvNet",
    "DataUnavailableError",
    "Dataset",
    "Estimate",
    "ExactResult",
    "FMNState",
    "LayerClassifier",
    "LinearNet",
    "LocalErrorConfig",
    "LocalErrorMLP",
    "LocalErrorResult",
    "MinPerturbation",
    "PathIntegral",
    "PowerLawFit",
    "Robustness",
    "SlopeFit",
    "TrailingQR",
    "TrainConfig",
    "TrainResult",
    "TwoColumnQR",
    "TwoProbeBound",
    "Verdict",
    "adversarial_augmentation",
    "affine_min_perturbation",
    "alpha_crown",
    "as_model",
    "as_static",
    "best_min_norm",
    "calibrated_eps",
    "certified_radius",
    "chernoff_union_bound",
    "chunk_size_for",
    "clopper_pearson",
    "cnn_layers",
    "collapse_linear",
    "compression_ratio",
    "covariance_spectrum",
    "cross_entropy",
    "damage",
    "decide",
    "deepfool",
    "device_summary",
    "dual_direction",
    "exact_radius",
    "fgsm",
    "fgsm_accuracy",
    "first_order_damage",
    "fit",
    "fixed_readouts",
    "fmn",
    "fmn_factory",
    "gauss_legendre",
    "gaussian_points",
    "gaussian_product",
    "gradient_norms",
    "gradient_penalty",
    "gram",
    "gram_schmidt2",
    "he_init",
    "he_mlp",
    "hypercube_signs",
    "input_gradients",
    "interpolating_network",
    "ks_2samp",
    "ks_test",
    "last_two_probes",
    "layer_logits",
    "linear_net_affine",
    "lipschitz_radius",
    "load_dataset",
    "local_error_mlp",
    "local_loss",
    "loglog_slope",
    "lp_norm",
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
    "participation_ratio",
    "path_integral",
    "pearson_ci",
    "pgd",
    "point_radius",
    "positive_qr",
    "power_law_fit",
    "protocol_net",
    "relu_mlp",
    "representations",
    "robustness",
    "sign_cube_data",
    "sign_cube_radius",
    "spearman",
    "spearman_ci",
    "theorem1_perturbation",
    "theorem1_vector",
    "trailing_from_probes",
    "trailing_qr",
    "train",
    "train_local",
    "trial_keys",
    "two_probe_bound",
]
