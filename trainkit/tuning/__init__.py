"""Hyper-parameter tuning (work in progress): the search space over ``--cfg-options`` paths."""
