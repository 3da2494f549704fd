"""A tiny search: the tiny regression config written to a file with a ``search`` section, and
readers of what a search left behind (the study, the results, the trial folders)."""
import json
import os
import pprint

from tests.support.configs import tiny_config

GOOD_LR, BAD_LR = 1e-2, 1e-6       # the bad one barely moves: clearly worse from epoch 1


def write_search_config(folder, search, name='search_cfg.py', epochs=3, **overrides):
    """Write ``{folder}/{name}``: the tiny config (work dir ``{folder}/work``) + ``search``."""
    cfg = tiny_config(os.path.join(str(folder), 'work'), train_cfg=dict(max_epochs=epochs),
                      param_scheduler=None, **overrides)
    cfg['search'] = search
    path = os.path.join(str(folder), name)
    os.makedirs(str(folder), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        for key, value in cfg.items():
            f.write(f'{key} = {pprint.pformat(value, width=100)}\n')
    return path


def lr_space(*choices):
    return {'optim_wrapper.optimizer.lr': dict(type='categorical', choices=list(choices))}


def load_study(work_dir, name='tiny'):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f'sqlite:///{os.path.join(str(work_dir), "search.db")}'
    return optuna.load_study(study_name=name, storage=url)


def results(work_dir):
    with open(os.path.join(str(work_dir), 'search_results.json'), encoding='utf-8') as f:
        return json.load(f)


def finished(study, state='COMPLETE'):
    return [t for t in study.get_trials() if t.state.name == state]
