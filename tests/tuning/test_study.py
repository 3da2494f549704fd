"""The queue of trials on SQLite: racing processes never take the same trial (Python's sqlite3
starts a transaction only at the first write; trainkit makes them BEGIN IMMEDIATE)."""
import subprocess
import sys

import pytest

from tests.support.configs import ROOT

TAKER = '''
import sys
import optuna
from trainkit.tuning.study import open_storage, take_trial
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(study_name='q', storage=open_storage(sys.argv[1]))
taken = []
while (trial := take_trial(study)) is not None:
    taken.append(trial.number)
    study.tell(trial, 0.0)
print(' '.join(map(str, taken)))
'''


@pytest.mark.slow
def test_racing_workers_take_each_queued_trial_once(tmp_path):
    import optuna
    url = f'sqlite:///{tmp_path / "q.db"}'
    study = optuna.create_study(study_name='q', storage=url)
    for _ in range(120):
        study.enqueue_trial({})
    workers = [subprocess.Popen([sys.executable, '-c', TAKER, url], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(4)]
    outs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, [err for _, err in outs]
    taken = [int(n) for out, _ in outs for n in out.split()]
    assert sorted(taken) == list(range(120))            # each once, none left
    assert sum(1 for out, _ in outs if out.split()) >= 2  # they did race
