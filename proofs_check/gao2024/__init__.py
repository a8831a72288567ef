"""Claims of Gao et al., "Feature compression is the root cause of adversarial fragility in neural network
classifiers" (arXiv 2406.16200).

Statements are keyed to our reconstruction in ``shared/papers/paper_gao2024.md`` (theorem numbers differ
between versions; tags: [P] paper, [R] reviews, [N] secondary note, [B] seed summary, [D] derived by us).
Every claim decides from its statistics at family-wise error ``ALPHA`` (Bonferroni over its own tests); no
number the notes mark as unconfirmed is used as a threshold.

One module per family of claims, split by what they work on; importing the package registers all of them:
``gaussian`` (Gaussian points and the linear constructions), ``trained_linear`` (trained networks the linear theory
describes), ``relu`` (the headline on trained ReLU networks) and ``real_data`` (digits, MNIST-1D, MNIST).
"""

# isort: off
from . import gaussian as gaussian
from . import trained_linear as trained_linear
from . import relu as relu
from . import real_data as real_data
# isort: on
