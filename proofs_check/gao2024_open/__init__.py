"""Studies of the primary paper's open questions (Gao et al. 2024, "Open Questions the Paper Calls Out",
``shared/papers/seeds/003_ff8be539c764431e.txt``): each a registered claim in the three-valued model.

One module per question: ``laws`` and ``laws_relu`` (open question 1, non-Gaussian data: the interpolating
network and trained ReLU nets), ``training`` (2, compression from initialisation through training),
``architectures`` (3, depth × width × activation) and ``explanations`` (4, compression versus gradient linearity and
non-robust features). Importing the package registers all of them.
"""

# isort: off
from . import laws as laws
from . import laws_relu as laws_relu
from . import architectures as architectures
from . import training as training
from . import explanations as explanations
# isort: on
