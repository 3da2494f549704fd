"""Datasets: SPICE HDF5 molecules (with a demo-data writer) and a synthetic regression set."""
from .spice import SpiceDataset
from .synthetic import SyntheticRegression

__all__ = ['SpiceDataset', 'SyntheticRegression']
