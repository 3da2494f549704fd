"""Datasets: SPICE HDF5 molecules (with a demo-data writer) and a synthetic regression set."""
from trainkit.datasets.spice import SpiceDataset
from trainkit.datasets.synthetic import SyntheticRegression

__all__ = ['SpiceDataset', 'SyntheticRegression']
