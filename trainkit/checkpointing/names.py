"""The names of the files a run keeps in its work dir, written once here::

    last_file('spice-v1')        # 'spice-v1_last.pt'   the latest state (resume continues it)
    slot_file('spice-v1', 0)     # 'spice-v1_0.pt'      a best-k slot
    config_file('spice-v1')      # 'spice-v1_config.py' the resolved config of the run
    interval_file('spice-v1', 'epoch', 3)   # 'spice-v1_epoch_3.pt' kept by max_keep_ckpts
    TRACKING_DIR                 # 'vis_data'           the tracking backends' events
"""
import re
from typing import Union

TRACKING_DIR = 'vis_data'


def last_file(run_name: str) -> str:
    return f'{run_name}_last.pt'


def slot_file(run_name: str, slot: Union[int, str]) -> str:
    return f'{run_name}_{slot}.pt'


def interval_file(run_name: str, unit: str, number: int) -> str:
    """An interval checkpoint (MMEngine's ``epoch_N.pth`` / ``iter_N.pth``): ``unit`` is
    ``'epoch'`` or ``'iter'`` (optimizer steps)."""
    return f'{run_name}_{unit}_{number}.pt'


def config_file(run_name: str) -> str:
    return f'{run_name}_config.py'


def run_file_pattern(run_name: str) -> 're.Pattern[str]':
    """Matches the checkpoints (last, slots, interval files) and the config copy of
    ``run_name``."""
    name = re.escape(run_name)
    return re.compile(rf'{name}_(last|\d+|epoch_\d+|iter_\d+)\.pt$|{name}_config\.py$')
