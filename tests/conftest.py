"""Shared fixtures; the helpers themselves live in tests/support/."""
import pytest
import torch

from tests.support.configs import tiny_config

torch.set_num_threads(1)


@pytest.fixture
def tiny_cfg(tmp_path):
    return tiny_config(tmp_path / 'work')
