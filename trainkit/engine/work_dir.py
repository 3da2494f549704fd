"""The work directory: create it and check it is writable, keep an earlier run's files when a
new run starts there, save the resolved config.

A fresh run (not ``--resume``) whose work dir already holds ``{run_name}_last.pt`` would
overwrite that run's checkpoints at the end of its first epoch and append to its logs. Instead,
the earlier run's files are moved, untouched, into ``{work_dir}/previous/{time}/`` before the
new run writes anything::

    work_dirs/spice-demo/previous/20261125-093358/spice-demo_last.pt
    work_dirs/spice-demo/previous/20261125-093358/loss.log
    ...

What moves: ``{run_name}_last.pt``, the best-k files ``{run_name}_<k>.pt``, the config copy
``{run_name}_config.py``, and the text and JSON-lines logs (``*.log``, ``*.jsonl``) at the top
of the work dir. Other files stay where they are. To continue the earlier run instead, start
with ``--resume``.
"""
import os
import time
from typing import Callable, List, Optional

from trainkit.checkpointing.names import config_file, last_file, run_file_pattern
from trainkit.errors import WorkDirError

LOG_SUFFIXES = ('.log', '.jsonl')

ARCHIVE_DIR = 'previous'


def previous_run_files(work_dir: str, run_name: str) -> List[str]:
    """The names of an earlier run's files in ``work_dir`` ([] if it holds no such run)."""
    if not os.path.isfile(os.path.join(work_dir, last_file(run_name))):
        return []
    own = run_file_pattern(run_name)
    return sorted(name for name in os.listdir(work_dir)
                  if (own.match(name) or name.endswith(LOG_SUFFIXES)) and
                  os.path.isfile(os.path.join(work_dir, name)))


def archive_previous_run(work_dir: str, run_name: str) -> Optional[str]:
    """Move an earlier run's files into ``previous/<time>/``; return that folder (or None)."""
    names = previous_run_files(work_dir, run_name)
    if not names:
        return None
    target = os.path.join(work_dir, ARCHIVE_DIR, time.strftime('%Y%m%d-%H%M%S'))
    suffix = 1
    while os.path.exists(target):
        suffix += 1
        target = f'{target.rsplit("~", 1)[0]}~{suffix}'
    os.makedirs(target)
    for name in names:  # a rename within one file system: nothing is copied or rewritten
        os.replace(os.path.join(work_dir, name), os.path.join(target, name))
    return target


def prepare_work_dir(work_dir: str) -> None:
    """Create the work dir and check it can be written."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = os.path.join(work_dir, f'.write-test-{os.getpid()}')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as err:
        raise WorkDirError(f'work_dir {work_dir!r} is not writable: {err.strerror}; '
                           f'choose another with --work-dir') from None


def keep_previous_run(work_dir: str, run_name: str, report: Callable[[str], None]) -> None:
    """A fresh run in the work dir of an earlier one moves that run's files aside first."""
    moved_to = archive_previous_run(work_dir, run_name)
    if moved_to:
        report(f'{work_dir} held an earlier run of {run_name}: its checkpoints and logs were '
               f'moved to {moved_to} (use --resume to continue a run instead of starting over)')


def save_config(work_dir: str, run_name: str, cfg_text: str) -> None:
    """Write the resolved config as ``{run_name}_config.py``."""
    with open(os.path.join(work_dir, config_file(run_name)), 'w', encoding='utf-8') as f:
        f.write(cfg_text)
