"""Models: a small MLP and a neural network potential for molecules."""
from .mlp import MLP

__all__ = ['MLP']
