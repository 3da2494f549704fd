"""MMEngine's ``val_cfg`` and ``test_cfg``: the validation and test loops.

trainkit validates inside its training loop and tests with ``tools/test.py``; the MMEngine
loop configs are checked so a misspelt key is not lost::

    val_cfg = dict()                          # or dict(type='ValLoop')
    test_cfg = dict(type='TestLoop', fp16=False)
"""
from typing import Any, Dict

from trainkit.config.mmengine.report import CarryOver
from trainkit.utils.suggest import unknown_keys

LOOP_KEYS = ('type', 'fp16')
LOOP_TYPES = {'val_cfg': 'ValLoop', 'test_cfg': 'TestLoop'}


def check_loops(cfg: Dict[str, Any], report: CarryOver) -> None:
    for key, loop in LOOP_TYPES.items():
        section = cfg.get(key)
        if section is None:
            continue
        if not isinstance(section, dict):
            report.problem(f'{key}: expected a dict such as dict(type={loop!r}), got {section!r}')
            continue
        for problem in unknown_keys(section, LOOP_KEYS, key):
            report.problem(problem)
        kind = section.get('type', loop)
        if kind != loop:
            report.problem(f'{key}.type: {kind!r} is not supported; trainkit runs {loop!r} '
                           f'(or leave type out)')
        if section.get('fp16'):
            report.notice(f'{key}.fp16', f'True ignored: trainkit runs the {loop} in full '
                                         f'precision (slower, never less accurate)')
