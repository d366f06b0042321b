import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def seed():
    """Deterministic runs: every test starts from the same RNG state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield 0
