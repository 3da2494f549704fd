"""Config loading, _base_ inheritance and --cfg-options (including where mmengine fails)."""
import argparse
import json
import textwrap

import pytest

from trainkit.config.load import load_config, parse_cfg_options, parse_value
from trainkit.errors import ConfigError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def based(tmp_path):
    (tmp_path / '_base_').mkdir()
    write(tmp_path / '_base_' / 'sched.py', '''
        optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                             clip_grad=dict(max_norm=1.0))
        param_scheduler = [dict(type='LinearLR', end=5), dict(type='CosineAnnealingLR')]
        max_epochs_default = 7
    ''')
    return write(tmp_path / 'main.py', '''
        _base_ = ['./_base_/sched.py']
        optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(_delete_=True, type='value',
                                                                     clip_value=0.5))
        train_cfg = dict(max_epochs={{_base_.max_epochs_default}})
        model = dict(type='MLP', in_features=4, channels=[8, 16, 32], act=('silu', 'relu'))
        run_name = 'base-test'
    ''')


def test_base_inheritance_override_and_delete(based):
    cfg = load_config(based)
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.01, momentum=0.9)
    assert cfg.optim_wrapper.clip_grad == dict(type='value', clip_value=0.5)
    assert cfg.train_cfg.max_epochs == 7
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']


def test_yaml_and_json_configs(tmp_path):
    write(tmp_path / 'base.json', json.dumps({'run_name': 'from-json', 'seed': 3}))
    path = write(tmp_path / 'c.yaml', '''
        _base_: ./base.json
        seed: 4
        optim_wrapper: {optimizer: {type: AdamW, lr: 5e-4, betas: [0.9, 0.99]}}
    ''')
    cfg = load_config(path)
    assert cfg.run_name == 'from-json' and cfg.seed == 4
    assert cfg.optim_wrapper.optimizer.lr == 5e-4  # YAML 1.1 would give the string '5e-4'


@pytest.mark.parametrize('option, key, expected', [
    ('optim_wrapper.optimizer.lr=1e-3', ('optim_wrapper', 'optimizer', 'lr'), 1e-3),
    ('param_scheduler.0.end=3', ('param_scheduler', 0, 'end'), 3),
    ('model.channels.1=64', ('model', 'channels'), [8, 64, 32]),       # mmengine crashes
    ("run_name='007'", ('run_name',), '007'),                          # mmengine gives 7
    ('model.act=(gelu,tanh)', ('model', 'act'), ('gelu', 'tanh')),
    ('model.act.1=gelu', ('model', 'act'), ('silu', 'gelu')),
    ('model.channels=[1,2]', ('model', 'channels'), [1, 2]),
    ('model.new.deep=true', ('model', 'new', 'deep'), True),
    ('seed=None', ('seed',), None),
    ('model.names=a,b', ('model', 'names'), ['a', 'b']),
])
def test_cfg_options_forms(based, option, key, expected):
    cfg = load_config(based, [option])
    node = cfg
    for part in key:
        node = node[part]
    assert node == expected and type(node) is type(expected)


def test_value_with_spaces_kept(based):
    # the shell splits `work_dir=my runs/a b` into three words; they are joined back
    cfg = load_config(based, ['work_dir=my', 'runs/a', 'b', 'seed=1'])
    assert cfg.work_dir == 'my runs/a b' and cfg.seed == 1
    assert load_config(based, ['run_name=a long name']).run_name == 'a long name'


def test_mmengine_dictaction_fails_where_we_do_not(based):
    """The three documented failures of mmengine's DictAction, shown side by side."""
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    words = ["run_name='007'", 'work_dir=my runs', 'model.channels.1=64']
    opts = parser.parse_args(['--cfg-options', *words]).cfg_options
    assert opts['run_name'] == 7                   # the string was lost
    assert opts['work_dir'] == 'myruns'            # the space was lost
    with pytest.raises(Exception):
        Config.fromfile(based).merge_from_dict({'model.channels.1': 64}, allow_list_keys=True)
    ours = load_config(based, ["run_name='007'", 'work_dir=my runs', 'model.channels.1=64'])
    assert (ours.run_name, ours.work_dir, ours.model.channels[1]) == ('007', 'my runs', 64)


@pytest.mark.parametrize('words, message', [
    (['model.channels.9=1'], 'index 9 is out of range for a list of 3 items'),
    (['model.channels.x=1'], "'x' indexes a list of 3 items"),
    (['noequals'], "'noequals' is not of the form key=value"),
    (['run_name.sub=1'], "cannot set 'sub' inside 'base-test'"),
])
def test_malformed_cfg_options(based, words, message):
    with pytest.raises(ConfigError, match=message):
        load_config(based, words)


def test_parse_value_literals():
    assert parse_value('1e-3') == 1e-3 and parse_value('007') == '007'
    assert parse_value('TRUE') is True and parse_value('null') is None
    assert parse_value('[a, [1, b]]') == ['a', [1, 'b']]
    assert parse_cfg_options(['a=1', 'b=x', 'y']) == [('a', 1), ('b', 'x y')]


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / 'bad.py', '''
        run_name = 'x'
        model = dict(type='MLP',
    ''')
    with pytest.raises(ConfigError, match=r'bad\.py, line 3: syntax error'):
        load_config(path)


def test_syntax_error_in_a_base_names_the_base(tmp_path):
    write(tmp_path / 'base.py', 'x = [1, 2\n')
    path = write(tmp_path / 'top.py', "_base_ = ['base.py']\n")
    with pytest.raises(ConfigError, match=r'base\.py, line 1: syntax error'):
        load_config(path)


def test_missing_base_names_referencing_file(tmp_path):
    path = write(tmp_path / 'top.py', "\n_base_ = ['./schedules/nope.py']\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert 'top.py, line 2' in str(err.value)
    assert "'./schedules/nope.py' not found" in str(err.value)


def test_config_code_error_names_file(tmp_path):
    path = write(tmp_path / 'boom.py', 'x = undefined_name + 1\n')
    with pytest.raises(ConfigError, match=r'boom\.py: the config could not be loaded: NameError'):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.py' not found"):
        load_config(str(tmp_path / 'nope.py'))


def test_yaml_merge_keys_may_be_redefined_but_plain_duplicates_may_not(tmp_path):
    merged = tmp_path / 'merged.yaml'
    merged.write_text('base: &b {lr: 1, wd: 2}\nopt:\n  <<: *b\n  lr: 3\n')
    assert load_config(str(merged))['opt'] == {'lr': 3, 'wd': 2}
    dup = tmp_path / 'dup.yaml'
    dup.write_text('opt:\n  lr: 1\n  wd: 2\n  lr: 3\n')
    with pytest.raises(ConfigError, match=r"dup.yaml, line 4: key 'lr' is given twice in one "
                                          r'mapping \(on lines 2 and 4\)'):
        load_config(str(dup))


@pytest.mark.parametrize('value, literal', [
    ("dict(type='MLP', hidden=list((8, 8)))", "model=\"{'type': 'MLP', 'hidden': [8, 8]}\""),
    ("[dict(a=1), tuple([2])]", "model=\"[{'a': 1}, (2,)]\""),
])
def test_call_syntax_is_refused_with_the_literal_to_write(value, literal):
    with pytest.raises(ConfigError, match='is Python call syntax') as info:
        parse_cfg_options([f'model={value}'])
    assert literal in str(info.value)


def test_brackets_inside_quotes_and_plain_parentheses_are_fine():
    assert parse_cfg_options(["run_name='a[1'", 'work_dir=runs(old)']) == [
        ('run_name', 'a[1'), ('work_dir', 'runs(old)')]
