"""Shape-annotated array aliases used across fcjax's public signatures.

The dimension names follow the papers: ``d`` is the input dimension, ``n`` the number of points (rows, ``(n, d)``,
throughout the public API; only ``fcjax.gao2024``'s constructions take the paper's data matrix ``X``, its
transpose), ``k`` the number of classes and ``b`` a batch of trials.
"""

from __future__ import annotations

from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, UInt32
from jaxtyping import Key as KeyArray

Key = PRNGKeyArray
Keys = KeyArray[Array, " n"]
Scalar = Float[Array, ""]
Vector = Float[Array, " d"]
Matrix = Float[Array, "d n"]
SquareMatrix = Float[Array, "d d"]

__all__ = ["Array", "Bool", "Float", "Int", "Key", "Keys", "Matrix", "Scalar", "SquareMatrix", "UInt32", "Vector"]
