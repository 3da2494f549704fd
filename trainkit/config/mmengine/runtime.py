"""MMEngine runtime keys mapped onto trainkit's before validation.

``load_from`` is trainkit's ``ckpt_file`` (weights only with ``resume=False``, continued with
``resume=True``, as MMEngine reads it); ``randomness=dict(seed=..., deterministic=...)`` is
trainkit's ``seed`` and ``deterministic``, e.g.::

    load_from = 'work_dirs/pretrain/trainkit_last.pt'
    randomness = dict(seed=0, deterministic=False)
"""
from typing import Dict

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean

RANDOMNESS_KEYS = ('seed', 'deterministic', 'diff_rank_seed')


def map_runtime_keys(cfg: Dict) -> Dict:
    """Rewrite ``load_from`` and ``randomness`` into trainkit's keys, in place."""
    if 'load_from' in cfg:
        load_from = cfg.pop('load_from')
        if load_from is not None:
            cfg.setdefault('ckpt_file', load_from)
    randomness = cfg.pop('randomness', None)
    if randomness is not None:
        if not isinstance(randomness, dict):
            raise ConfigError([f'randomness: got {randomness!r}, expected a dict such as '
                               f'dict(seed=0, deterministic=False)'])
        problems = [f'randomness: unknown key {key!r}{did_you_mean(key, RANDOMNESS_KEYS)}; '
                    f'valid keys: {", ".join(RANDOMNESS_KEYS)}'
                    for key in randomness if key not in RANDOMNESS_KEYS]
        if randomness.get('diff_rank_seed'):
            problems.append('randomness.diff_rank_seed=True: trainkit seeds every rank alike and '
                            'does not offer a per-rank seed yet; remove it or set it to False')
        if problems:
            raise ConfigError(problems)
        for key in ('seed', 'deterministic'):
            if key in randomness:
                cfg[key] = randomness[key]
    return cfg
