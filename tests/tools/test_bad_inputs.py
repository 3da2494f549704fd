"""The catalogue of bad inputs: each one exits with code 2, prints a message that says what
was given, what was expected and what to do, shows no traceback (unless ``--debug``), and
leaves the files of the earlier run in the same work dir byte for byte as they were.

Every case runs ``tools/train.py``'s ``main()`` in this process (``tests.support.reliability.cli``)
against a copy of a finished two-epoch run; only the simulated full disk runs a real
subprocess (the fault-injection plugin patches the checkpoint writer at import).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import h5py
import numpy as np
import pytest
import torch

import trainkit.datasets.spice  # noqa: F401  (registers SpiceDataset)
from tests.support import components  # noqa: F401  (registers NaNAfter)
from tests.support import reliability as h
from trainkit.checkpointing.format import load_checkpoint
from trainkit.config.load import load_config
from trainkit.datasets.spice_demo import write_demo_spice
from trainkit.engine.runner import Runner
from trainkit.engine.work_dir import LOCK_FILE
from trainkit.hooks.hook import Hook

LAST = f'{h.RUN_NAME}_last.pt'


# ------------------------------------------------------------------------- the earlier run
@pytest.fixture(scope='module')
def previous(tmp_path_factory) -> str:
    """A finished two-epoch run (best-2 files, EMA, logs): what must not be overwritten."""
    root = tmp_path_factory.mktemp('previous')
    work = str(root / 'work')
    result = h.cli([h.write_config(str(root / 'cfg.py'),
                                   h.tiny_cfg(work, train_cfg=dict(max_epochs=2)))])
    assert result.rc == 0, result.err
    assert sorted(os.listdir(work)) == ['loss.jsonl', 'loss.log', 'tiny_0.pt', 'tiny_1.pt',
                                        'tiny_config.py', 'tiny_last.pt']
    return work


def snapshot(directory: str) -> Dict[str, bytes]:
    files = {}
    for base, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            with open(path, 'rb') as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


@pytest.fixture
def work(previous, tmp_path) -> str:
    copy = str(tmp_path / 'work')
    shutil.copytree(previous, copy)
    return copy


# ----------------------------------------------------------------------- files to feed in
def _write(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def _spice(path: str, groups: Dict[str, Dict[str, np.ndarray]]) -> None:
    with h5py.File(path, 'w') as f:
        for name, datasets in groups.items():
            group = f.create_group(name)
            for key, value in datasets.items():
                group[key] = value


def _last_bytes(tmp: str, work: str) -> bytes:
    with open(os.path.join(work, LAST), 'rb') as f:
        return f.read()


SETUPS: Dict[str, Callable[[str, str], None]] = {
    'empty.pt': lambda tmp, work: _write(os.path.join(tmp, 'empty.pt'), b''),
    'truncated.pt': lambda tmp, work: _write(os.path.join(tmp, 'truncated.pt'),
                                             _last_bytes(tmp, work)[:9000]),
    'text.pt': lambda tmp, work: _write(os.path.join(tmp, 'text.pt'), b'epoch=3 lr=0.01\n'),
    'tensor.pt': lambda tmp, work: torch.save(torch.zeros(3), os.path.join(tmp, 'tensor.pt')),
    'dict.pt': lambda tmp, work: torch.save({'epoch': 3, 'lr': 0.01},
                                            os.path.join(tmp, 'dict.pt')),
    'unsafe.pt': lambda tmp, work: torch.save(
        {'version': 1, 'model': {}, 'meta': argparse.Namespace(epoch=3)},
        os.path.join(tmp, 'unsafe.pt')),
    'empty.hdf5': lambda tmp, work: _write(os.path.join(tmp, 'empty.hdf5'), b''),
    'nogroups.hdf5': lambda tmp, work: _spice(os.path.join(tmp, 'nogroups.hdf5'), {}),
    'partial.hdf5': lambda tmp, work: _spice(os.path.join(tmp, 'partial.hdf5'), {'water': dict(
        atomic_numbers=np.array([8, 1, 1], np.int16),
        conformations=np.zeros((2, 3, 3), np.float32))}),
    'afile': lambda tmp, work: _write(os.path.join(tmp, 'afile'), b'not a directory'),
    'lock-live': lambda tmp, work: _lock(work, os.getppid(), socket.gethostname()),
    'lock-elsewhere': lambda tmp, work: _lock(work, _dead_pid(), 'gpu-node-7'),
    'lock-garbage': lambda tmp, work: _write(os.path.join(work, LOCK_FILE), b'{oops'),
    'log-read-only': lambda tmp, work: os.chmod(os.path.join(work, 'loss.log'), 0o444),
    'demo-file': lambda tmp, work: write_demo_spice(os.path.join(tmp, 'spice-demo.hdf5'), 4, 2),
}


def _lock(work: str, pid: int, host: str) -> None:
    _write(os.path.join(work, LOCK_FILE), json.dumps(dict(
        pid=pid, host=host, user='ana', started='2026-01-02 03:04:05',
        command='tools/train.py cfg.py')).encode())


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    return child.pid


def _spice_data(path: str, **options) -> Dict:
    return dict(dataset=dict(type='SpiceDataset', path=path, **options))


# --------------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One bad input: ``args`` after the config path (``{tmp}``, ``{work}``, ``{last}`` and
    ``{cfg}`` filled in), the message fragments expected on stderr, the files ``setup`` makes
    in ``{tmp}``, ``loader`` / ``val``: keys replaced in the tiny run's ``train_dataloader`` /
    ``val_dataloader``, ``text``:
    a config file (str, or bytes written as they are) with the name suffix ``suffix`` written
    instead of the tiny run's config, and ``modules``: Python modules written into ``{tmp}``
    (importable with ``--custom-imports``)."""
    id: str
    expect: Sequence[str]
    args: Sequence[str] = ()
    setup: Sequence[str] = ()
    text: Optional[Union[str, bytes]] = None
    loader: Dict = field(default_factory=dict)
    suffix: str = '.py'
    modules: Dict[str, str] = field(default_factory=dict)
    val: Dict = field(default_factory=dict)


CASES: List[Case] = [
    # --- config files
    Case('syntax-error', ['{cfg}, line 3: syntax error', 'lr = = 0.1'],
         text="seed = 0\nmodel = dict(type='MLP', in_features=4)\nlr = = 0.1\n"),
    Case('missing-base', ["{cfg}, line 1: _base_ file 'schedules/nope.py' not found",
                          'looked for {tmp}/schedules/nope.py'],
         text="_base_ = ['schedules/nope.py']\nseed = 0\n"),
    Case('unknown-top-level-key', ["unknown top-level key 'optim_wraper' — did you mean "
                                   "'optim_wrapper'?"],
         args=['--cfg-options', 'optim_wraper.optimizer.lr=0.1']),
    Case('unknown-type', ["model.type: 'MPL' is not a registered model — did you mean 'MLP'?"],
         args=['--cfg-options', 'model.type=MPL']),
    Case('unknown-argument', ["optim_wrapper.optimizer: AdamW got an unexpected argument "
                              "'weight_decy' — did you mean 'weight_decay'?"],
         args=['--cfg-options', 'optim_wrapper.optimizer.weight_decy=0.1']),
    Case('unknown-cli-option', ["unrecognized arguments: --resme — did you mean '--resume'?"],
         args=['--resme']),
    # --- wrong values
    Case('lr-not-a-number', ["optim_wrapper.optimizer.lr: AdamW expects a number or Tensor, "
                             "got 'fast' (str)"],
         args=['--cfg-options', 'optim_wrapper.optimizer.lr=fast']),
    Case('negative-max-epochs', ['train_cfg.max_epochs: expected an int >= 1, got -1'],
         args=['--cfg-options', 'train_cfg.max_epochs=-1']),
    Case('best-k-zero', ['CheckpointHook.best_k: expected an int >= 1', 'got 0',
                         'to keep none, set best_k=None'],
         args=['--cfg-options', 'default_hooks.checkpoint.best_k=0']),
    Case('batch-size-string', ["train_dataloader.batch_size: expected an int >= 1, got '16'"],
         loader=dict(batch_size='16')),
    Case('several-problems-at-once', ['2 problems in the config',
                                      "did you mean 'weight_decay'?",
                                      'train_cfg.max_epochs: expected an int >= 1, got 0'],
         args=['--cfg-options', 'optim_wrapper.optimizer.weight_decy=0.1',
               'train_cfg.max_epochs=0']),
    # --- malformed --cfg-options
    Case('cfg-option-without-value', ["--cfg-options: 'lr' is not of the form key=value",
                                      'e.g. optim_wrapper.optimizer.lr=1e-3'],
         args=['--cfg-options', 'lr']),
    Case('cfg-option-into-a-number', ["--cfg-options optim_wrapper.optimizer.lr.max: cannot "
                                      "set 'max' inside 0.01 (float)"],
         args=['--cfg-options', 'optim_wrapper.optimizer.lr.max=1']),
    Case('cfg-option-index-out-of-range', ['--cfg-options param_scheduler.5.end: index 5 is out '
                                           'of range for a list of 2 items'],
         args=['--cfg-options', 'param_scheduler.5.end=3']),
    Case('cfg-option-word-index', ["--cfg-options param_scheduler.last.end: 'last' indexes a "
                                   'list of 2 items; use a number 0..1'],
         args=['--cfg-options', 'param_scheduler.last.end=3']),
    # --- data files
    Case('data-file-missing', ["SPICE file '{tmp}/nope.hdf5' does not exist",
                               'download SPICE', 'demo_if_missing=True'],
         loader=_spice_data('{tmp}/nope.hdf5')),
    Case('data-file-empty', ["'{tmp}/empty.hdf5' is not a readable HDF5 file",
                             'point path to a SPICE .hdf5 file'],
         setup=['empty.hdf5'], loader=_spice_data('{tmp}/empty.hdf5')),
    Case('hdf5-without-groups', ["'{tmp}/nogroups.hdf5' contains no molecule groups",
                                 'one group per molecule'],
         setup=['nogroups.hdf5'], loader=_spice_data('{tmp}/nogroups.hdf5')),
    Case('hdf5-without-needed-datasets', [
        "group 'water' of '{tmp}/partial.hdf5' has no dataset 'dft_total_energy'",
        "it has ['atomic_numbers', 'conformations']", 'Is this a SPICE file?'],
        setup=['partial.hdf5'], loader=_spice_data('{tmp}/partial.hdf5')),
    Case('loss-target-not-in-batch', [
        "loss.losses_weight: the batches of train_dataloader have no target 'energy'",
        "a batch has ['x', 'y']", 'before training', 'Fix losses_weight or the dataset'],
        args=['--cfg-options', 'loss.losses_weight={"energy": 1.0}', 'model.output_key=energy']),
    Case('loss-target-misspelt', ["have no target 'yy' — did you mean 'y'?"],
         args=['--cfg-options', 'loss.losses_weight={"yy": 1.0}', 'model.output_key=yy']),
    # --- checkpoints
    Case('resume-without-checkpoint', [
        'resume: there is no checkpoint to resume from: {work}/other_last.pt does not exist',
        "run_name='other'", 'start without --resume or give the file'],
        args=['--resume', '--cfg-options', 'run_name=other']),
    Case('resume-from-missing-file', ["checkpoint '{tmp}/nope.pt' does not exist; check the path"],
         args=['--resume', '{tmp}/nope.pt']),
    Case('checkpoint-empty', ["checkpoint '{tmp}/empty.pt' is empty (0 bytes)",
                              'use another checkpoint'],
         setup=['empty.pt'], args=['--resume', '{tmp}/empty.pt']),
    Case('checkpoint-truncated', ["checkpoint '{tmp}/truncated.pt' is truncated or not a "
                                  'PyTorch file', 'use an earlier checkpoint'],
         setup=['truncated.pt'], args=['--resume', '{tmp}/truncated.pt']),
    Case('checkpoint-not-pytorch', ["checkpoint '{tmp}/text.pt' is not a PyTorch file (it "
                                    'starts like a text file'],
         setup=['text.pt'], args=['--resume', '{tmp}/text.pt']),
    Case('checkpoint-text-as-weights', ["checkpoint '{tmp}/text.pt' is not a PyTorch file"],
         setup=['text.pt'], args=['--cfg-options', 'ckpt_file={tmp}/text.pt']),
    Case('checkpoint-is-a-directory', ["checkpoint '{work}' is a directory, not a file",
                                       'with a bare --resume'],
         args=['--resume', '{work}']),
    Case('cfg-options-twice-both-applied', ["unknown top-level key 'optim_wraper'"],
         args=['--cfg-options', 'optim_wraper.optimizer.lr=0.1', '--cfg-options',
               'train_cfg.max_epochs=2']),
    Case('checkpoint-foreign-tensor', ["'{tmp}/tensor.pt' is not a trainkit checkpoint (a "
                                       "Tensor); expected the keys 'version' and 'model'"],
         setup=['tensor.pt'], args=['--resume', '{tmp}/tensor.pt']),
    Case('checkpoint-foreign-dict-as-weights', [
        "'{tmp}/dict.pt' is not a trainkit checkpoint (a dict with keys ['epoch', 'lr'])",
        'or a plain {name: tensor} state dict'],
        setup=['dict.pt'], args=['--cfg-options', 'ckpt_file={tmp}/dict.pt']),
    Case('checkpoint-of-another-model', [
        'the weights in {last} do not fit the model:', 'missing (2): net.4.bias, net.4.weight',
        'net.0.weight: checkpoint (16, 4) vs model (8, 4)', 'load_strict=False'],
        args=['--resume', '--cfg-options', 'model.hidden=[8,8]']),
    Case('weights-of-another-model', [
        'the weights in {last} do not fit the model:', 'unexpected (2): net.2.bias, '
        'net.2.weight', 'mismatched (2)'],
        args=['--cfg-options', 'ckpt_file={last}', 'model.hidden=[]', 'run_name=ft']),
    Case('checkpoint-needs-unpickling', [
        "checkpoint '{tmp}/unsafe.pt' is refused: it holds an object of type argparse.Namespace",
        'can run any code', 'Only if you trust the file',
        'torch.serialization.add_safe_globals([argparse.Namespace])', 'custom_imports'],
        setup=['unsafe.pt'], args=['--resume', '{tmp}/unsafe.pt']),
    # --- the model and the run
    Case('finetune-modules-match-nothing', [
        "finetune_modules: ['outptu'] match no parameter name",
        "The model's modules are: net, net.0, net.2"],
        args=['--cfg-options', 'finetune_modules=[outptu]', 'ckpt_file={last}', 'run_name=ft']),
    Case('run-name-empty', ["run_name: expected a non-empty name, got ''"],
         args=['--cfg-options', "run_name=''"]),
    Case('run-name-with-separator', ["run_name: 'a/b' contains a path separator",
                                     'give the folder as work_dir'],
         args=['--cfg-options', 'run_name=a/b']),
    Case('work-dir-empty', ["work_dir: expected a folder, got ''"],
         args=['--work-dir', '']),
    Case('shuffle-misspelt', ["train_dataloader.shuffle: expected True or False, got 'Flase'",
                              'train_dataloader.shuffle=False'],
         args=['--cfg-options', 'train_dataloader.shuffle=Flase']),
    Case('pin-memory-int', ['train_dataloader.pin_memory: expected True or False, got 1 (int)'],
         args=['--cfg-options', 'train_dataloader.pin_memory=1']),
    Case('device-gpu', ["device: 'gpu' is not a torch device; did you mean 'cuda'?"],
         args=['--cfg-options', 'device=gpu']),
    Case('work-dir-is-a-file', ["work_dir '{tmp}/afile' is not writable",
                                'choose another with --work-dir'],
         setup=['afile'], args=['--work-dir', '{tmp}/afile']),
    Case('work-dir-under-a-file', ["work_dir '{tmp}/afile/run' is not writable: Not a directory",
                                   'choose another with --work-dir'],
         setup=['afile'], args=['--work-dir', '{tmp}/afile/run']),
    # --- round two: the work dir in use, files a resume cannot write, epochs already done
    Case('work-dir-in-use', ["work_dir '{work}' is in use by another run: pid ",
                             'on host ', 'user ana, since 2026-01-02 03:04:05',
                             '(lock file {work}/.trainkit.lock, process on this host)',
                             'start this one with another --work-dir'],
         setup=['lock-live']),
    Case('work-dir-in-use-resume', ["work_dir '{work}' is in use by another run"],
         setup=['lock-live'], args=['--resume']),
    Case('work-dir-locked-from-another-host', [
        "is in use by another run: pid", "on host gpu-node-7",
        "process on host 'gpu-node-7'; this is", 'cannot be checked from here',
        'if that run is gone, delete the lock file'],
        setup=['lock-elsewhere'], args=['--resume']),
    Case('work-dir-lock-unreadable', ['holds a lock file {work}/.trainkit.lock that cannot be '
                                      'read', 'delete that file'],
         setup=['lock-garbage']),
    Case('resume-into-read-only-log', [
        "resume: 1 file(s) of run 'tiny' in {work} that the resumed run would write are "
        'read-only or not yours: loss.log (mode -r--r--r--, owner ', 'Nothing was touched',
        'chmod u+w', '--work-dir NEW --resume {last}'],
        setup=['log-read-only'], args=['--resume', '--cfg-options', 'train_cfg.max_epochs=3']),
    Case('early-stopping-target-not-predicted', [
        "EarlyStoppingHook.early_stoppings.energy: 'energy_mae' is not a validation metric",
        "the metrics are ['loss', 'weighted_mae', 'y_mae', 'y_rmse']"],
        args=['--cfg-options', "custom_hooks=[{'type': 'EarlyStoppingHook', 'early_stoppings': "
              "{'energy': {'metric': 'mae', 'patience': 3}}}]"]),
    Case('early-stopping-target-not-predicted-dry-run', [
        "EarlyStoppingHook.early_stoppings.forces: 'forces_rmse' is not a validation metric"],
        args=['--dry-run', '--cfg-options', "custom_hooks=[{'type': 'EarlyStoppingHook', "
              "'early_stoppings': {'forces': {'metric': 'rmse', 'patience': 3}}}]"]),
    Case('dry-run-resume-into-another-model', [
        'the weights in {last} do not fit the model:', 'net.0.weight: checkpoint (16, 4) vs '
        'model (8, 4)'],
        args=['--dry-run', '--resume', '--cfg-options', 'model.hidden=[8,8]']),
    Case('dry-run-text-file-as-checkpoint', ["checkpoint '{tmp}/text.pt' is not a PyTorch file"],
         setup=['text.pt'], args=['--dry-run', '--cfg-options', 'ckpt_file={tmp}/text.pt']),
    Case('launcher-pytorch-without-torchrun', ['--launcher pytorch: RANK and WORLD_SIZE not set',
                                               'start it with torchrun'],
         args=['--launcher', 'pytorch']),
    Case('auto-scale-lr-without-base-batch-size', [
        '--auto-scale-lr: the config has no auto_scale_lr.base_batch_size'],
        args=['--auto-scale-lr']),
    # --- round two: the demo data never passes for real data
    Case('demo-fallback-under-a-real-data-name', [
        "SPICE file '{tmp}/SPICE-2.0.1.hdf5' does not exist. demo_if_missing=True writes "
        "synthetic demo data only to a file whose name contains 'demo'",
        'e.g. {tmp}/spice-demo.hdf5', 'Check the path to your SPICE file'],
        loader=_spice_data('{tmp}/SPICE-2.0.1.hdf5', demo_if_missing=True)),
    Case('demo-fallback-in-a-dry-run-under-a-real-data-name', [
        "SPICE file '{tmp}/SPICE-2.0.1.hdf5' does not exist. demo_if_missing=True"],
        args=['--dry-run'], loader=_spice_data('{tmp}/SPICE-2.0.1.hdf5', demo_if_missing=True)),
    Case('demo-file-read-as-real-data', [
        "'{tmp}/spice-demo.hdf5' is trainkit's SYNTHETIC demo file (HDF5 attribute "
        "'trainkit_synthetic_demo'", 'demo_if_missing=False asks for real data',
        'Point path to the real SPICE file'],
        setup=['demo-file'], loader=_spice_data('{tmp}/spice-demo.hdf5')),
    Case('train-and-val-split-differently', [
        "train_dataloader.dataset and val_dataloader.dataset read '{tmp}/spice-demo.hdf5' with "
        'different settings (seed: 0 vs 1; train vs val)', 'leak into training'],
        setup=['demo-file'], args=['--cfg-options', 'val_dataloader.dataset.seed=1'],
        loader=_spice_data('{tmp}/spice-demo.hdf5', split='train', demo_if_missing=True),
        val=_spice_data('{tmp}/spice-demo.hdf5', split='val', demo_if_missing=True)),
    Case('validation-on-the-training-file', [
        "val_dataloader.dataset: split='all' of '{tmp}/spice-demo.hdf5', the file "
        "train_dataloader reads with split='train': validation would score samples the model "
        'trains on'],
        setup=['demo-file'],
        loader=_spice_data('{tmp}/spice-demo.hdf5', split='train', demo_if_missing=True),
        val=_spice_data('{tmp}/spice-demo.hdf5', split='all', demo_if_missing=True)),
    Case('demo-if-missing-a-string', ["train_dataloader.dataset.demo_if_missing: SpiceDataset "
                                      "expects bool or dict, got 'False' (str); write "
                                      '--cfg-options train_dataloader.dataset.demo_if_missing='
                                      'False (or True)'],
         loader=_spice_data('{tmp}/spice-demo.hdf5', demo_if_missing='False')),
    # --- round two: the environment (config encodings, YAML, plugins and registries)
    Case('config-not-utf8', ['{cfg}, line 2: the file is not UTF-8 text (byte 0xe9 at column 4',
                             'save it as UTF-8, e.g. iconv -f latin1 -t utf-8'],
         text=b"seed = 0\n# r\xe9sum\xe9 of the run\nmodel = dict(type='MLP', in_features=4)\n"),
    Case('yaml-duplicate-key', ["{cfg}, line 3: key 'seed' is given twice in one mapping (on "
                                'lines 1 and 3); YAML keeps only the last', 'remove one of them'],
         text='seed: 0\nrun_name: a\nseed: 1\nmodel: {type: MLP, in_features: 4}\n',
         suffix='.yaml'),
    Case('plugin-shadows-a-built-in', [
        "optimizer 'AdamW': shadow_adamw.AdamW would shadow the built-in "
        "torch.optim.adamw.AdamW for every config that names 'AdamW'",
        "register_module(name='MyAdamW')", 'register_module(force=True)'],
        args=['--custom-imports', 'shadow_adamw'],
        modules=dict(shadow_adamw='import torch\nfrom trainkit.registry import OPTIMIZERS\n\n\n'
                                  '@OPTIMIZERS.register_module()\n'
                                  'class AdamW(torch.optim.AdamW):\n    pass\n')),
    Case('two-plugins-register-one-name', [
        "loss 'Huber' is registered twice: by huber_a.HuberA and by huber_b.HuberB",
        'rename one of them'],
        args=['--custom-imports', 'huber_a', 'huber_b'],
        modules={m: f'import torch\nfrom trainkit.registry import LOSSES\n\n\n'
                    f"@LOSSES.register_module(name='Huber')\n"
                    f'class Huber{m[-1].upper()}(torch.nn.Module):\n    pass\n'
                 for m in ('huber_a', 'huber_b')}),
    Case('plugin-raises-on-import', [
        "custom_imports: importing 'broken_plugin' failed at {tmp}/broken_plugin.py, line 3: "
        "return SCALES['fast']: KeyError: 'fast' (--debug shows the traceback)"],
        args=['--custom-imports', 'broken_plugin'],
        modules=dict(broken_plugin="SCALES = {'slow': 1}\ndef scale():\n"
                                   "    return SCALES['fast']\nFACTOR = scale()\n")),
    Case('plugin-needs-a-missing-package', [
        "custom_imports: 'needs_pkg' imports 'surely_not_installed_pkg', which is not installed "
        '({tmp}/needs_pkg.py, line 1: import surely_not_installed_pkg)'],
        args=['--cfg-options', "custom_imports={'imports': ['needs_pkg']}"],
        modules=dict(needs_pkg='import surely_not_installed_pkg\n')),
    # --- round two: values valid alone, not together
    Case('finetune-modules-without-weights', [
        "finetune_modules=['net.2'] trains only those parameters and freezes the rest, but no "
        'weights are loaded (ckpt_file=None, resume=False)', 'random initial values',
        'Set ckpt_file to the pretrained checkpoint'],
        args=['--cfg-options', 'finetune_modules=[net.2]']),
    Case('finetune-modules-near-miss', [
        "finetune_modules: ['net.5'] match no parameter name ('net.5': nearest ['net.0', "
        "'net.2'])"],
        args=['--cfg-options', 'finetune_modules=[net.5]', 'ckpt_file={last}', 'run_name=ft']),
    Case('custom-keys-match-nothing', [
        "optim_wrapper.paramwise_cfg.custom_keys: ['nett.0'] match no parameter name "
        "('nett.0': nearest ['net.0'"],
        args=['--cfg-options',
              "optim_wrapper.paramwise_cfg={'custom_keys': {'nett.0': {'lr_mult': 0.1}}}"]),
    Case('min-lr-above-lr', [
        'param_scheduler.1.eta_min=0.1 (CosineAnnealingLR) is above the learning rate '
        'optim_wrapper.optimizer.lr=0.01', 'min_lr must not exceed max_lr'],
        args=['--cfg-options', 'param_scheduler.1.eta_min=0.1']),
    Case('reference-min-lr-above-max-lr', [
        'param_scheduler.1.stop_lr=0.01 (PlateauLR) is above the learning rate '
        'optim_wrapper.optimizer.lr=0.001', 'min_lr must not exceed max_lr'],
        text="trainer = dict(max_lr=1e-3, min_lr=1e-2, lr_scheduler='plateau', max_epochs=2, "
             "losses_weight={'y': 1.0}, lossfn='mse')\n"
             "model = dict(type='MLP', in_features=4)\n"
             "train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=8, "
             "in_features=4), batch_size=4)\n"),
    Case('plateau-patience-negative', [
        'param_scheduler.0.patience: expected an int >= 0', 'got -1'],
        args=['--cfg-options', "param_scheduler=[{'type': 'PlateauLR', 'patience': -1}]"]),
    # --- round two: how a value is written on the command line
    Case('cfg-option-unbalanced-bracket', [
        "--cfg-options model.hidden: the brackets of '[8,8' do not pair up (1 unclosed '[')",
        'write the whole value in quotes for the shell, e.g. "model.hidden=[1, 2]"'],
        args=['--cfg-options', 'model.hidden=[8,8']),
    Case('cfg-option-dict-call', [
        '--cfg-options model: "dict(type=\'MLP\', in_features=4)" is Python call syntax, '
        'which --cfg-options does not run',
        'model="{\'type\': \'MLP\', \'in_features\': 4}"'],
        args=['--cfg-options', "model=dict(type='MLP', in_features=4)"]),
    Case('cfg-option-dict-call-in-a-list', [
        "param_scheduler=\"[{'type': 'PlateauLR', 'patience': 1}]\""],
        args=['--cfg-options', "param_scheduler=[dict(type='PlateauLR',patience=1)]"]),
    Case('bool-argument-as-a-word', [
        "optim_wrapper.optimizer.amsgrad: AdamW expects bool, got 'yes' (str); write "
        '--cfg-options optim_wrapper.optimizer.amsgrad=False (or True)'],
        args=['--cfg-options', 'optim_wrapper.optimizer.amsgrad=yes']),
    Case('number-argument-as-a-word', [
        "default_hooks.ema.ema_decay: EMAHook expects a number or None, got 'high' (str); "
        'write a number without quotes, e.g. --cfg-options default_hooks.ema.ema_decay=0.995'],
        args=['--cfg-options', 'default_hooks.ema.ema_decay=high']),
    Case('resume-below-epochs-done', [
        'resume: {last} has 2 epochs done, more than train_cfg.max_epochs=1; nothing was '
        'changed', 'set max_epochs above 2'],
        args=['--resume', '--cfg-options', 'train_cfg.max_epochs=1']),
]


def _prepare(case: Case, tmp: str, work: str):
    for name in case.setup:
        SETUPS[name](tmp, work)
    for module, source in case.modules.items():
        _write(os.path.join(tmp, f'{module}.py'), source.encode())
    cfg_path = os.path.join(tmp, f'{case.id}{case.suffix}')
    fill = {'{tmp}': tmp, '{work}': work, '{last}': os.path.join(work, LAST), '{cfg}': cfg_path}
    if case.text is not None:
        _write(cfg_path, case.text if isinstance(case.text, bytes) else case.text.encode())
    else:
        cfg = h.tiny_cfg(work, train_cfg=dict(max_epochs=2))
        for where, given in (('train_dataloader', case.loader), ('val_dataloader', case.val)):
            loader = {k: _fill(v, fill) if isinstance(v, str) else v for k, v in given.items()}
            if 'dataset' in loader:
                loader['dataset'] = {k: _fill(v, fill) if isinstance(v, str) else v
                                     for k, v in loader['dataset'].items()}
            cfg[where] = dict(cfg[where], **loader)
        h.write_config(cfg_path, cfg)
    return cfg_path, [_fill(a, fill) for a in case.args], [_fill(e, fill) for e in case.expect]


def _fill(text: str, fill: Dict[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace(key, value)
    return text


@pytest.fixture
def own_registries(monkeypatch, tmp_path):
    """A case's plugin modules importable from ``{tmp}``; what they register is undone."""
    from trainkit.registry import ALL_REGISTRIES
    for registry in ALL_REGISTRIES.values():
        registry.import_from_location()
    saved = {name: dict(reg._module_dict) for name, reg in ALL_REGISTRIES.items()}
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name, registry in ALL_REGISTRIES.items():
        registry._module_dict.clear()
        registry._module_dict.update(saved[name])
    for name, module in list(sys.modules.items()):
        if (getattr(module, '__file__', None) or '').startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_clear_message_and_touches_nothing(case, work, tmp_path,
                                                                  own_registries):
    tmp = str(tmp_path)
    cfg_path, args, expect = _prepare(case, tmp, work)
    before = snapshot(tmp)
    result = h.cli([cfg_path, *args])
    assert result.rc == 2, result.err
    assert 'Traceback' not in result.err, result.err
    for fragment in expect:
        assert fragment in result.err, f'{fragment!r} not in:\n{result.err}'
    assert snapshot(tmp) == before  # the earlier run's files, the inputs: every byte kept


def test_resume_with_nothing_left_says_so_and_changes_nothing(work, tmp_path):
    """max_epochs equal to the epochs done: exit 0, said plainly, every file as it was."""
    before = snapshot(work)
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=2)))
    result = h.cli([cfg, '--resume'])
    assert result.rc == 0, result.err
    assert 'all 2 epochs were done (raise train_cfg.max_epochs to train on), so there is ' \
           'nothing left to train; nothing was changed' in result.out
    assert 'Start training' not in result.out
    assert snapshot(work) == before


def test_a_stale_lock_is_taken_over_with_a_notice_and_released(work, tmp_path):
    """The lock of a killed run (same host, pid gone) does not block; the run's own lock is
    gone at the end."""
    _lock(work, _dead_pid(), socket.gethostname())
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=3)))
    result = h.cli([cfg, '--resume'])
    assert result.rc == 0, result.err
    assert f'notice: {work}/.trainkit.lock: a stale lock of pid ' in result.err
    assert 'was taken over (that process no longer runs' in result.err
    assert not os.path.exists(os.path.join(work, LOCK_FILE))
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 3


def test_the_lock_names_this_run_while_it_trains(tmp_path):
    """During training the lock file holds this process's pid and host; a second run started
    then (here: from a hook of the first) stops with exit 2 and leaves the first running."""
    work = str(tmp_path / 'work')
    seen = {}

    class SecondRun(Hook):
        def after_train_epoch(self, runner):
            with open(os.path.join(runner.work_dir, LOCK_FILE)) as f:
                seen['lock'] = json.load(f)
            seen['second'] = h.cli([cfg, '--resume'])

    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work))
    runner = Runner.from_cfg(load_config(cfg))
    runner.hooks.append(SecondRun())
    runner.log.console = lambda line: None
    runner.train()
    assert (seen['lock']['pid'], seen['lock']['host']) == (os.getpid(), socket.gethostname())
    assert seen['second'].rc == 2 and 'is in use by another run' in seen['second'].err
    assert runner.epoch == runner.max_epochs == 4
    assert not os.path.exists(os.path.join(work, LOCK_FILE))


def test_debug_shows_the_traceback(work, tmp_path):
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work))
    result = h.cli([cfg, '--resume', str(tmp_path / 'nope.pt'), '--debug'])
    assert result.rc == 2
    assert 'Traceback (most recent call last)' in result.err
    assert 'CheckpointError' in result.err and 'nope.pt' in result.err


def test_debug_shows_the_traceback_of_a_failing_plugin(work, tmp_path, own_registries):
    _write(str(tmp_path / 'raising_plugin.py'), b"FACTORS = {}\nFACTOR = FACTORS['lr']\n")
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work))
    plain = h.cli([cfg, '--custom-imports', 'raising_plugin'])
    assert plain.rc == 2 and 'Traceback' not in plain.err
    assert f"{tmp_path}/raising_plugin.py, line 2: FACTOR = FACTORS['lr']: KeyError" in plain.err
    debug = h.cli([cfg, '--custom-imports', 'raising_plugin', '--debug'])
    assert debug.rc == 2 and 'Traceback (most recent call last)' in debug.err
    assert 'raising_plugin.py", line 2, in <module>' in debug.err


def test_catalogue_is_complete():
    """The issue's catalogue, each entry covered by at least one case above."""
    wanted = ['syntax-error', 'missing-base', 'unknown-top-level-key', 'unknown-type',
              'unknown-argument', 'lr-not-a-number', 'negative-max-epochs', 'best-k-zero',
              'cfg-option-without-value', 'data-file-missing', 'data-file-empty',
              'hdf5-without-needed-datasets', 'checkpoint-truncated', 'checkpoint-empty',
              'checkpoint-foreign-tensor', 'checkpoint-of-another-model',
              'resume-without-checkpoint', 'finetune-modules-match-nothing',
              'loss-target-not-in-batch', 'work-dir-under-a-file', 'checkpoint-needs-unpickling']
    round_two = [  # issue 17
        'work-dir-in-use', 'work-dir-in-use-resume', 'resume-into-read-only-log',
        'demo-fallback-under-a-real-data-name', 'demo-fallback-in-a-dry-run-under-a-real-data-name',
        'demo-file-read-as-real-data', 'cfg-options-twice-both-applied', 'shuffle-misspelt',
        'bool-argument-as-a-word', 'cfg-option-unbalanced-bracket', 'cfg-option-dict-call',
        'min-lr-above-lr', 'reference-min-lr-above-max-lr', 'plateau-patience-negative',
        'finetune-modules-without-weights', 'custom-keys-match-nothing',
        'finetune-modules-near-miss', 'early-stopping-target-not-predicted', 'yaml-duplicate-key',
        'resume-below-epochs-done', 'device-gpu', 'config-not-utf8', 'plugin-shadows-a-built-in',
        'two-plugins-register-one-name', 'plugin-raises-on-import', 'checkpoint-not-pytorch',
        'checkpoint-text-as-weights', 'checkpoint-is-a-directory',
        'dry-run-resume-into-another-model', 'run-name-with-separator', 'work-dir-empty']
    assert not set(wanted + round_two) - {c.id for c in CASES}


# ------------------------------------------------- errors that happen while training
def test_nan_loss_stops_before_the_update_and_keeps_checkpoints(work, tmp_path):
    """Resume the earlier run on data whose targets are NaN: the guard stops at the first
    batch; every checkpoint keeps its bytes and the log keeps every row up to the resume
    point."""
    before = snapshot(work)
    text_bytes = load_checkpoint(os.path.join(work, LAST))['log']['text_bytes']
    cfg = h.tiny_cfg(work, train_cfg=dict(max_epochs=3))
    cfg['train_dataloader']['dataset'] = dict(type='NaNAfter', start=0, num_samples=64,
                                              in_features=4)
    result = h.cli([h.write_config(str(tmp_path / 'nan.py'), cfg), '--resume'])
    assert result.rc == 2 and 'Traceback' not in result.err, result.err
    assert 'non-finite loss at epoch 3, iteration 1/4 (optimizer step 8): loss=nan, y=nan' in \
        result.err
    assert f'the last checkpoint in {work} is untouched' in result.err
    assert 'Try a lower learning rate, gradient clipping' in result.err
    after = snapshot(work)
    assert {k: v for k, v in after.items() if k.endswith('.pt')} == \
        {k: v for k, v in before.items() if k.endswith('.pt')}
    assert after['loss.log'][:text_bytes] == before['loss.log'][:text_bytes]
    assert 'Stopped with an error: non-finite loss' in after['loss.log'][text_bytes:].decode()


def test_loss_target_missing_from_predictions_stops_before_any_update(work, tmp_path):
    """The batch has the target but the model does not predict it: caught at the first
    batch, before the optimizer steps, so nothing is written."""
    before = snapshot(work)
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, run_name='other'))
    result = h.cli([cfg, '--cfg-options', 'model.output_key=z'])
    assert result.rc == 2 and 'Traceback' not in result.err, result.err
    assert "loss target 'y' (from losses_weight) is missing in the predictions; the " \
           "predictions has ['z']. Fix losses_weight or the model." in result.err
    written = set(snapshot(work)) - set(before)
    assert not any(name.endswith('.pt') for name in written), written


def test_trusted_unsafe_checkpoint_resumes_once_its_class_is_allowed(work, tmp_path,
                                                                      monkeypatch):
    """The refusal's advice works: allow the class in a custom_imports module, resume."""
    state = h.load(os.path.join(work, LAST))
    state['note'] = argparse.Namespace(source='trusted colleague')
    path = str(tmp_path / 'trusted.pt')
    torch.save(state, path)
    module = tmp_path / 'allow_namespace.py'
    module.write_text('import argparse\nimport torch\n'
                      'torch.serialization.add_safe_globals([argparse.Namespace])\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=3)))
    refused = h.cli([cfg, '--resume', path])
    assert refused.rc == 2 and 'add_safe_globals([argparse.Namespace])' in refused.err
    allowed = torch.serialization.get_safe_globals()
    try:
        result = h.cli([cfg, '--resume', path, '--custom-imports', 'allow_namespace'])
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(allowed)
    assert result.rc == 0, result.err
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 3


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path):
    """A real ``tools/train.py`` whose 4th checkpoint write (``_last.pt`` of epoch 2) fails
    halfway with ENOSPC: exit 2 with a clear message, ``_last.pt`` of epoch 1 intact and
    loadable, no temp file left, and ``--resume`` finishes the run from it."""
    work = str(tmp_path / 'work')
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=3)))
    run = h.train_subprocess([cfg], plugin=True, TK_ENOSPC_WRITE=4)
    assert run.returncode == 2, run.stderr
    assert 'Traceback' not in run.stderr
    assert f'could not write checkpoint {work}/{LAST}: No space left on device' in run.stderr
    assert 'The previous file at that path (if any) is intact; free some space' in run.stderr
    assert 'continue with --resume' in run.stderr
    with open(os.path.join(work, LAST), 'rb') as f, \
            open(os.path.join(work, LAST + '.before-enospc'), 'rb') as g:
        assert f.read() == g.read()
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 1
    assert not [n for n in os.listdir(work) if '.tmp-' in n]
    resumed = h.cli([cfg, '--resume'])
    assert resumed.rc == 0, resumed.err
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 3


def test_disk_full_while_logging_exits_2_and_the_run_resumes(tmp_path):
    """The 13th line of ``loss.log`` (a train row of epoch 2) hits ENOSPC: exit 2 with a
    message, not a traceback; the checkpoints of epoch 1 are intact and ``--resume`` finishes
    the run."""
    work = str(tmp_path / 'work')
    cfg = h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=3)))
    run = h.train_subprocess([cfg], plugin=True, TK_LOG_ENOSPC=13)
    assert run.returncode == 2, run.stderr
    assert 'Traceback' not in run.stderr
    assert f'cannot write {work}/loss.log: No space left on device. The checkpoints already ' \
           f'written are intact; free some space and continue with --resume.' in run.stderr
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 1
    resumed = h.cli([cfg, '--resume'])
    assert resumed.rc == 0, resumed.err
    assert load_checkpoint(os.path.join(work, LAST))['meta']['epoch'] == 3


@pytest.mark.slow
def test_two_real_processes_in_one_work_dir(tmp_path):
    """A real second ``tools/train.py`` while the first trains: exit 2 naming the first's pid;
    once the first is killed (SIGKILL leaves its lock), ``--resume`` takes the lock over."""
    work = str(tmp_path / 'work')
    cfg = h.write_config(str(tmp_path / 'cfg.py'),
                         h.tiny_cfg(work, train_cfg=dict(max_epochs=100000)))
    first = subprocess.Popen([sys.executable, h.TRAIN, cfg], cwd=h.ROOT, env=h.child_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = os.path.join(work, LOCK_FILE)
        deadline = time.monotonic() + 60
        while not os.path.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(lock), 'the first run took no lock within 60 s'
        second = h.cli([cfg, '--resume'])
        assert second.rc == 2 and f'is in use by another run: pid {first.pid} on host ' in \
            second.err, second.err
    finally:
        first.kill()
        first.wait()
    third = h.cli([cfg, '--cfg-options', 'train_cfg.max_epochs=1'])
    assert third.rc == 0, third.err
    assert f'a stale lock of pid {first.pid}' in third.err
    assert not os.path.exists(os.path.join(work, LOCK_FILE))
