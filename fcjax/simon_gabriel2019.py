"""Simon-Gabriel et al. (ICML 2019), first-order vulnerability: the paper's protocol, apart from the general tools.

The general gradient tools (``input_gradients``, ``gradient_norms``, ``lp_norm``) stay in ``fcjax``.
"""

from .gradients import adversarial_augmentation as adversarial_augmentation
from .gradients import calibrated_eps as calibrated_eps
from .gradients import damage as damage
from .gradients import dual_direction as dual_direction
from .gradients import first_order_damage as first_order_damage
from .gradients import gradient_penalty as gradient_penalty
from .models import protocol_net as protocol_net

__all__ = [
    "adversarial_augmentation",
    "calibrated_eps",
    "damage",
    "dual_direction",
    "first_order_damage",
    "gradient_penalty",
    "protocol_net",
]
