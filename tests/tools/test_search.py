"""tools/search.py on the tiny regression config: grid, seeded random/TPE, pruning, failed
trials, bad input, results and the best config (in this process); kill + --resume and two
workers on one study (real processes)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.configs import ROOT
from tests.support.search import (
    BAD_LR,
    GOOD_LR,
    finished,
    load_study,
    lr_space,
    results,
    write_search_config,
)
from tools import search as search_tool
from tools import train as train_tool

TOOL = os.path.join(ROOT, 'tools', 'search.py')
GRID = {'optim_wrapper.optimizer.lr': dict(type='categorical', choices=[1e-3, 1e-2]),
        'model.hidden.0': dict(type='int', low=8, high=16, step=8)}


def _search(path, *args):
    return search_tool.main([path, *args])


def _val_values(work_dir, metric='weighted_mae'):
    with open(os.path.join(work_dir, 'loss.jsonl'), encoding='utf-8') as f:
        rows = [json.loads(line) for line in f]
    return [row[metric] for row in rows if row.get('kind') == 'val']


@pytest.mark.slow
def test_grid_visits_every_point_once_and_best_config_repeats_the_value(tmp_path, capsys):
    path = write_search_config(tmp_path, dict(sampler='grid', space=GRID))
    assert _search(path) == 0
    work = tmp_path / 'work'
    study = load_study(work)
    points = sorted((t.params['optim_wrapper.optimizer.lr'], t.params['model.hidden.0'])
                    for t in study.get_trials())
    assert points == [(1e-3, 8), (1e-3, 16), (1e-2, 8), (1e-2, 16)]
    assert len(finished(study)) == 4
    for t in study.get_trials():   # every trial a normal run in its own folder
        folder = work / 'trials' / str(t.number)
        assert {'tiny_config.py', 'tiny_last.pt', 'tiny_0.pt', 'loss.jsonl'} <= set(
            os.listdir(folder))
        assert t.value == min(_val_values(str(folder)))
        assert t.user_attrs['epochs'] == 3
    table = results(work)
    assert [row['number'] for row in table['trials']] == [0, 1, 2, 3]
    assert table['best']['value'] == study.best_value
    with open(work / 'search_results.csv', encoding='utf-8') as f:
        assert len(f.read().splitlines()) == 5
    assert 'best trial' in capsys.readouterr().out
    assert (work / 'optimization_history.png').stat().st_size > 5_000
    # the best trial's config runs as it is and gives the recorded value
    assert train_tool.main([str(work / 'best_config.py')]) == 0
    assert min(_val_values(str(work / 'best'))) == study.best_value


@pytest.mark.slow
@pytest.mark.parametrize('sampler', ['random', dict(type='tpe', n_startup_trials=2),
                                     dict(type='gp', n_startup_trials=2)],
                         ids=['random', 'tpe', 'gp'])
def test_seeded_samplers_are_reproducible(tmp_path, sampler):
    space = {'optim_wrapper.optimizer.lr': dict(type='float', low=1e-3, high=1e-1, log=True),
             'model.hidden.0': dict(type='int', low=4, high=16)}
    runs = []
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        path = write_search_config(tmp_path / name, dict(sampler=sampler, space=space,
                                                         n_trials=4, seed=seed), epochs=1)
        assert _search(path) == 0
        study = load_study(tmp_path / name / 'work')
        runs.append([(t.params, t.value) for t in study.get_trials()])
    assert runs[0] == runs[1]
    assert [p for p, _ in runs[0]] != [p for p, _ in runs[2]]
    assert len({json.dumps(p, sort_keys=True) for p, _ in runs[0]}) == 4


@pytest.mark.parametrize('pruner', [dict(type='median', n_startup_trials=1),
                                    dict(type='successive_halving', reduction_factor=2),
                                    dict(type='hyperband', reduction_factor=2)])
def test_pruner_stops_a_clearly_worse_trial(tmp_path, pruner):
    path = write_search_config(tmp_path, dict(sampler='grid', pruner=pruner,
                                              space=lr_space(GOOD_LR, BAD_LR)), epochs=4)
    assert _search(path) == 0
    study = load_study(tmp_path / 'work')
    good, bad = study.get_trials()
    assert good.state.name == 'COMPLETE' and good.user_attrs['epochs'] == 4
    assert bad.state.name == 'PRUNED' and bad.user_attrs['epochs'] < 4
    # the pruned run stopped after a finished epoch: its folder holds a normal checkpoint
    assert (tmp_path / 'work' / 'trials' / '1' / 'tiny_last.pt').exists()


def test_diverging_trial_fails_and_the_search_goes_on(tmp_path):
    path = write_search_config(tmp_path, dict(sampler='grid', space=lr_space(1e6, GOOD_LR)),
                               optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)))
    assert _search(path) == 0
    study = load_study(tmp_path / 'work')
    nan, good = study.get_trials()
    assert nan.state.name == 'FAIL' and 'non-finite' in nan.user_attrs['error']
    assert good.state.name == 'COMPLETE'
    assert [r['state'] for r in results(tmp_path / 'work')['trials']] == ['FAIL', 'COMPLETE']


@pytest.mark.parametrize('search, message', [
    (dict(space={'optim_wrapper.optimizer.lrr': dict(type='float', low=0.1, high=1)}),
     "did you mean 'lr'"),
    (dict(sampler='tpee', n_trials=2, space=lr_space(0.1)), "did you mean 'tpe'"),
    (dict(sampler=dict(type='tpe', n_startup=3), n_trials=2, space=lr_space(0.1)),
     "did you mean 'n_startup_trials'"),
    (dict(pruner='medain', n_trials=2, space=lr_space(0.1)), "did you mean 'median'"),
    (dict(metric='weighted_ma', n_trials=2, space=lr_space(0.1)),
     "did you mean 'weighted_mae'"),
    (dict(sampler='grid', space={'optim_wrapper.optimizer.lr': dict(type='float', low=0.1,
                                                                    high=1)}), 'step='),
    (dict(n_trials=2, space={'train_dataloader.batch_size': dict(type='categorical',
                                                                 choices=[16, 0])}),
     "search.space gives {'train_dataloader.batch_size': 0}"),
    (dict(n_trial=2, space=lr_space(0.1)), "did you mean 'n_trials'"),
    (dict(n_trials=2, space={'loss.losses_weight.y': dict(type='float', low=1, high=10)}),
     'compared on different scales'),
    (dict(space=lr_space(0.1)), 'search.n_trials'),
])
def test_bad_search_exits_2_before_any_trial(tmp_path, capsys, search, message):
    path = write_search_config(tmp_path, search)
    assert _search(path) == 2
    err = capsys.readouterr().err
    assert message in err and 'Traceback' not in err
    assert not (tmp_path / 'work' / 'search.db').exists()


def test_finished_search_is_not_rerun_and_resume_adds_trials(tmp_path, capsys):
    path = write_search_config(tmp_path, dict(sampler='random', n_trials=2, seed=0,
                                              space=lr_space(1e-3, 1e-2, 3e-2)), epochs=1)
    assert _search(path) == 0
    assert _search(path) == 2
    assert 'already finished' in capsys.readouterr().err
    assert _search(path, '--resume', '--n-trials', '3') == 0
    study = load_study(tmp_path / 'work')
    assert [t.number for t in finished(study)] == [0, 1, 2]


def test_search_file_replaces_the_config_section(tmp_path):
    path = write_search_config(tmp_path, dict(sampler='grid', space=lr_space(1e-2)))
    other = tmp_path / 'other.py'
    other.write_text(f"search = dict(sampler='grid', space={lr_space(1e-3, 3e-3)!r})\n")
    assert _search(path, '--search', str(other)) == 0
    study = load_study(tmp_path / 'work')
    assert [t.params['optim_wrapper.optimizer.lr'] for t in study.get_trials()] == [1e-3, 3e-3]


# ------------------------------------------------------------------- real processes
def _start(path, *args):
    return subprocess.Popen([sys.executable, TOOL, path, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def _slow_config(tmp_path, search):
    """The tiny config with trials of about a second, so that a kill lands inside one and a
    second worker starts before the first has run them all."""
    return write_search_config(
        tmp_path, dict(search, heartbeat_interval=1), epochs=3,
        train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=512,
                                           in_features=4), batch_size=16, shuffle=True))


def _slow_grid(tmp_path, points):
    lrs = [round(1e-3 * (i + 1), 6) for i in range(points)]
    return _slow_config(tmp_path, dict(sampler='grid', space=lr_space(*lrs))), lrs


@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    path, lrs = _slow_grid(tmp_path, 4)
    proc = _start(path)
    third = tmp_path / 'work' / 'trials' / '2'
    deadline = time.time() + 120
    while not third.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)          # no chance to clean up: trial 2 stays RUNNING
    proc.communicate(timeout=60)
    study = load_study(tmp_path / 'work')
    before = {t.number: t.params for t in finished(study)}
    assert sorted(before) == [0, 1]
    assert [t.number for t in study.get_trials() if t.state.name == 'RUNNING'] == [2]
    resumed = _start(path, '--resume')
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    study = load_study(tmp_path / 'work')
    done = finished(study)
    assert sorted(t.params['optim_wrapper.optimizer.lr'] for t in done) == lrs  # each once
    assert {t.number: t.params for t in done if t.number in before} == before
    dead = study.trials[2]
    assert dead.state.name == 'FAIL'
    retry = [t for t in done if t.user_attrs.get('retry_of') == 2]
    assert len(retry) == 1 and retry[0].params == dead.params


@pytest.mark.slow
def test_ctrl_c_queues_the_trial_again_for_resume(tmp_path):
    path, lrs = _slow_grid(tmp_path, 3)
    proc = _start(path)
    second = tmp_path / 'work' / 'trials' / '1'
    deadline = time.time() + 120
    while not second.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and 'continue with --resume' in out
    study = load_study(tmp_path / 'work')
    assert [t.state.name for t in study.get_trials()] == ['COMPLETE', 'FAIL', 'WAITING',
                                                          'WAITING']
    assert _search(path, '--resume') == 0
    study = load_study(tmp_path / 'work')
    assert sorted(t.params['optim_wrapper.optimizer.lr'] for t in finished(study)) == lrs


@pytest.mark.slow
@pytest.mark.parametrize('sampler', ['grid', 'random'])
def test_two_workers_share_one_study_without_duplicates(tmp_path, sampler):
    path, lrs = _slow_grid(tmp_path, 6)
    if sampler == 'random':
        path = _slow_config(tmp_path, dict(sampler='random', n_trials=6, seed=0, space={
            'optim_wrapper.optimizer.lr': dict(type='float', low=1e-3, high=1e-2)}))
    workers = [_start(path), _start(path)]
    outs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs
    study = load_study(tmp_path / 'work')
    trials = study.get_trials()
    assert len(trials) == 6 and len(finished(study)) == 6
    values = [t.params['optim_wrapper.optimizer.lr'] for t in trials]
    assert len(set(values)) == 6
    if sampler == 'grid':
        assert sorted(values) == lrs
    ran = [sum(line.startswith('trial ') and ' COMPLETE ' in line for line in out.splitlines())
           for out in outs]
    assert sum(ran) == 6 and min(ran) >= 1, ran    # both workers did their share


@pytest.mark.slow
def test_shipped_spice_search_shortened(tmp_path):
    """configs/spice_search.py as a user runs it, on 6 molecules, 2 trials of 2 epochs."""
    small = [f'{loader}.dataset.{key}={value}' for loader in ('train_dataloader',
                                                              'val_dataloader')
             for key, value in (('max_molecules', 6), ('max_conformations', 8))]
    work = tmp_path / 'spice'
    assert _search(os.path.join(ROOT, 'configs', 'spice_search.py'), '--n-trials', '2',
                   '--work-dir', str(work), '--cfg-options', 'search.epochs_per_trial=2',
                   *small) == 0
    study = load_study(work, 'spice-search')
    assert len(study.get_trials()) == 2
    assert set(study.trials[0].params) == {'optim_wrapper.optimizer.lr', 'model.num_features',
                                           'model.num_interactions'}
    assert (work / 'best_config.py').exists()


@pytest.mark.slow
def test_journal_file_storage(tmp_path):
    """journal:PATH (for shared file systems): the search runs there; --resume with a trial
    left running (no heartbeat in a journal) queues it again."""
    path = write_search_config(tmp_path, dict(sampler='grid', space=lr_space(1e-3, 1e-2)),
                               epochs=1)
    journal = f'journal:{tmp_path / "study.log"}'
    assert _search(path, '--storage', journal, '--n-trials', '1') == 0
    import optuna
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / 'study.log')))
    study = optuna.load_study(study_name='tiny', storage=storage)
    assert [t.state.name for t in study.get_trials()] == ['COMPLETE']
    # a worker killed in trial 1: its trial stays running
    stuck = study.ask({'optim_wrapper.optimizer.lr': optuna.distributions.CategoricalDistribution(
        [1e-3, 1e-2])})
    assert _search(path, '--storage', journal, '--resume', '--n-trials', '2') == 0
    trials = study.get_trials()
    assert trials[stuck.number].state.name == 'FAIL'
    assert 'interrupted' in trials[stuck.number].user_attrs['error']
    retry = [t for t in trials if t.user_attrs.get('retry_of') == stuck.number]
    assert len(retry) == 1 and retry[0].state.name == 'COMPLETE'
    assert retry[0].params == stuck.params
    assert len(finished(study)) == 3   # the grid's 2 points, and the interrupted one again
    assert not (tmp_path / 'work' / 'search.db').exists()
