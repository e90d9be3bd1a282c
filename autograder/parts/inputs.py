"""Seeded hidden inputs shared by the checks: readable matrices and seeded torch generators."""

from __future__ import annotations

import random

import torch


def random_matrix(rng: random.Random, rows: int, columns: int) -> list[list[float]]:
    """A ``rows x columns`` list of lists with entries in [-5, 5], rounded to 3 decimals for feedback."""
    return [[round(rng.uniform(-5, 5), 3) for _ in range(columns)] for _ in range(rows)]


def random_vector(rng: random.Random, size: int) -> list[float]:
    return random_matrix(rng, 1, size)[0]


def torch_generator(rng: random.Random) -> torch.Generator:
    """A torch generator seeded from the check's own random stream."""
    return torch.Generator().manual_seed(rng.getrandbits(62))
