"""The name every open-question study of Gao et al. reports under."""

PAPER = "Gao et al. 2024, open questions (arXiv 2406.16200)"
