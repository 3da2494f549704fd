"""Models: a small MLP and a neural network potential for molecules."""
from .mlp import MLP
from .potential import NeuralPotential

__all__ = ['MLP', 'NeuralPotential']
