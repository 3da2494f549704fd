"""Hyper-parameter tuning around the training run (``tools/search.py``, ``tools/lr_find.py``).

=============  ==============================================================================
settings.py    the ``search`` section, read and checked once
space.py       the search space: dotted ``--cfg-options`` paths and their distributions
preflight.py   checks before the first trial (every value validated, the metric looked up)
study.py       the Optuna study: storage (SQLite, RDB URL, journal file), sampler, pruner,
               the queue of trials workers take, heartbeats
trial.py       one trial: the base config with the trial's values, trained in trials/<n>/
pruning.py     PruningHook: reports the monitored value after every validation, stops a
               trial the pruner gives up on
worker.py      the loop of one search process: take a trial, run it, record it
results.py     the trial table, search_results.csv/.json, best_config.py, plots
lr_find.py     the learning-rate range test
=============  ==============================================================================

Optuna is imported only where a study is used, so ``import trainkit`` does not need it.
"""
