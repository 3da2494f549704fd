"""Crash safety: a run SIGKILLed at random moments — some inside a checkpoint write, some in
the middle of an epoch — and resumed with ``--resume`` until it finishes ends exactly where an
uninterrupted run ends.

The run is ``python tools/train.py configs/spice.py`` as a user runs it (default hooks and
thread count), shortened, with a mid-epoch checkpoint every 2 optimizer steps
(``tests.support.reliability.trial_argv``). Each trial runs it with the fault-injection plugin
(``tests/support/fault_plugin.py``: checkpoint files written in slow chunks, a sleep before the
rename, ``@@`` markers on stderr), kills it, resumes, and finally checks

* every resume exits 0 (a run killed before its first checkpoint is started afresh);
* ``_last.pt`` equals the uninterrupted run's bit for bit: model, EMA weights, optimizer,
  schedule, hook states, RNG states and counters (``torch.equal`` on every tensor);
* ``loss.log`` / ``loss.jsonl`` hold exactly the uninterrupted run's rows (timings, the
  ``--- Resumed`` / ``--- Start training`` lines and the repeated column header ignored);
* each best-k slot file holds the epoch and value the final ``_last.pt`` records for it, with
  the uninterrupted run's weights, and there are no other slot files.

``bench/killtest.py --trials 50`` runs many more random trials.
"""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from tests.support import reliability as h
from trainkit.checkpointing.format import atomic_write


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """The uninterrupted run every trial is compared with."""
    return h.reference_run(str(tmp_path_factory.mktemp('crash')))


def _check(trial):
    assert trial.passed, trial.summary() + '\n' + '\n'.join(trial.problems)
    assert any(r.killed for r in trial.runs), trial.summary()


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.slow
def test_random_kills_then_resume_match_uninterrupted_run(reference, tmp_path, seed):
    """Two SIGKILLs per trial, at least one inside a checkpoint write, the other anywhere."""
    trial = h.run_trial(seed, str(tmp_path), reference, kills=2)
    _check(trial)


@pytest.mark.slow
def test_kills_at_each_checkpoint_window_then_resume(reference, tmp_path):
    """Kills at exact points of the checkpoint protocol (the plugin kills itself there):

    1. after the epoch-1 best file was renamed into place, before ``_last.pt`` of epoch 1
       (the slot file then holds an epoch the heap in ``_last.pt`` does not know about);
    2. halfway through the temp file of the resumed run's first write (that best file again:
       the run resumes from the mid-epoch ``_last.pt`` of step 4);
    3. with the temp file of the epoch's ``_last.pt`` complete but not yet renamed;
    4. right after the best file was renamed, before anything else.
    """
    # the first run writes _last (step 2), _last (step 4), the best file, _last (epoch end);
    # each resumed run starts at step 4 with the best file, then _last
    plans = [h.KillPlan('self', spec='replace:3:after'), h.KillPlan('self', spec='write:1:4'),
             h.KillPlan('self', spec='replace:2:before'),
             h.KillPlan('self', spec='replace:1:after')]
    trial = h.run_trial(100, str(tmp_path), reference, plans=plans)
    _check(trial)
    assert [r.killed for r in trial.runs] == [True] * 4 + [False], trial.summary()
    assert trial.fresh_restarts == 0


def test_resuming_a_finished_run_changes_nothing(reference, tmp_path):
    work = str(tmp_path / 'done')
    shutil.copytree(reference, work)
    last = os.path.join(work, f'{h.SPICE_RUN_NAME}_last.pt')
    before = open(last, 'rb').read()
    result = h.cli([*h.trial_argv(work), '--resume'])
    assert result.rc == 0, result.err
    assert open(last, 'rb').read() == before
    assert h.log_problems(work, reference) == []


# ------------------------------------------------- the checks themselves catch damage
@pytest.fixture
def damaged(reference, tmp_path):
    work = str(tmp_path / 'copy')
    shutil.copytree(reference, work)
    assert h.final_state_problems(work, reference, h.SPICE_RUN_NAME) == []
    assert h.best_k_problems(work, reference, h.TRIAL_BEST_K, h.SPICE_RUN_NAME) == []
    assert h.log_problems(work, reference) == []
    return work


def test_check_catches_duplicated_json_row(damaged, reference):
    path = os.path.join(damaged, 'loss.jsonl')
    lines = open(path).read().splitlines(keepends=True)
    open(path, 'w').writelines(lines[:5] + lines[4:])
    assert any('loss.jsonl' in p for p in h.log_problems(damaged, reference))


def test_check_catches_missing_text_row(damaged, reference):
    path = os.path.join(damaged, 'loss.log')
    lines = open(path).read().splitlines(keepends=True)
    open(path, 'w').writelines(lines[:6] + lines[7:])
    assert any('loss.log' in p for p in h.log_problems(damaged, reference))


LAST = f'{h.SPICE_RUN_NAME}_last.pt'


def test_check_catches_one_changed_weight_bit(damaged, reference):
    path = os.path.join(damaged, LAST)
    state = h.load(path)
    weight = state['model']['readout.0.weight']
    weight.view(torch.int32)[0, 0] ^= 1  # flip the lowest mantissa bit of one weight
    torch.save(state, path)
    assert any('readout.0.weight' in p
               for p in h.final_state_problems(damaged, reference, h.SPICE_RUN_NAME))


def test_check_catches_changed_ema_weights(damaged, reference):
    path = os.path.join(damaged, LAST)
    state = h.load(path)
    state['hooks']['ema']['ema_state_dict']['readout.2.bias'] += 1e-3
    torch.save(state, path)
    assert any('EMA' in p and 'readout.2.bias' in p
               for p in h.final_state_problems(damaged, reference, h.SPICE_RUN_NAME))


def test_check_catches_best_file_out_of_step_with_record(damaged, reference):
    last = h.load(os.path.join(damaged, LAST))
    value, epoch, slot = last['hooks']['checkpoint']['best'][0]
    path = os.path.join(damaged, f'{h.SPICE_RUN_NAME}_{slot}.pt')
    state = h.load(path)
    state['meta']['epoch'] = epoch - 1
    torch.save(state, path)
    assert any(f'slot {slot}' in p for p in h.best_k_problems(damaged, reference,
                                                              h.TRIAL_BEST_K, h.SPICE_RUN_NAME))


def test_atomic_write_removes_temp_files_of_killed_writers_only(tmp_path):
    """A temp file left by a killed process (its pid is gone) is deleted by the next write of
    the same file; one of a live process (here: pytest's parent) or of another file is
    kept."""
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f'.tiny_last.pt.tmp-{dead}'
    running = tmp_path / f'.tiny_last.pt.tmp-{os.getppid()}'
    other = tmp_path / f'.tiny_0.pt.tmp-{dead}'
    for path in (stale, running, other):
        path.write_bytes(b'half a checkpoint')
    atomic_write(str(tmp_path / 'tiny_last.pt'), b'new')
    assert (tmp_path / 'tiny_last.pt').read_bytes() == b'new'
    assert not stale.exists()
    assert running.exists() and other.exists()  # a running process's, another file's


def test_killtest_report_counts_trials_and_where_kills_landed():
    """``bench/killtest.py``'s table, on recorded trials (no process is run)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'killtest', os.path.join(h.ROOT, 'bench', 'killtest.py'))
    killtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(killtest)

    def killed(where):
        return h.RunRecord([], h.KillPlan('random'), rc=-9, killed=True, where=where)

    finished = h.RunRecord([], h.KillPlan('none'), rc=0)
    good = h.Trial(1, runs=[killed('writing tiny_0.pt (temp file 3/8 written)'),
                            killed('training (epoch 2, batch 1)'), finished],
                   fresh_restarts=1)
    bad = h.Trial(2, runs=[killed('writing tiny_last.pt (before replace)'),
                           killed('just after replacing tiny_last.pt'), finished],
                  problems=['final weights differ from the uninterrupted run: net.0.weight'])
    args = killtest.parse_args(['--trials', '2'])
    text = killtest.report([good, bad], 90.0, args)
    assert '| 2 | 1 | 4 | 3 | 1 | 0 | 1.5 |' in text  # trials passed kills resumes fresh
    for place, count in (('mid-write', 1), ('before-replace', 1), ('after-replace', 1),
                         ('mid-epoch', 1), ('before-training', 0)):
        assert any(line.startswith(f'| {place}:') and line.endswith(f'| {count} |')
                   for line in text.splitlines()), place
    assert '1 failed trial(s):' in text and 'net.0.weight' in text
