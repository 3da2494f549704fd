"""Models: a small MLP and a neural network potential for molecules."""
from trainkit.models.mlp import MLP
from trainkit.models.potential import NeuralPotential

__all__ = ['MLP', 'NeuralPotential']
