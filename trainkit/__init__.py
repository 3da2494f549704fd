"""trainkit: a lean, config-driven PyTorch training framework in the MMEngine style.

``import trainkit`` is cheap: everything below is imported on first use::

    from trainkit import Runner, load_config
    runner = Runner.from_cfg(load_config('configs/spice.py'))
    runner.train()
"""
import importlib

__version__ = '0.1.0'

_LAZY = {
    'Runner': 'trainkit.engine.runner',
    'load_config': 'trainkit.config.load',
    'Hook': 'trainkit.hooks.hook',
    'ConfigError': 'trainkit.errors',
    'TrainkitError': 'trainkit.errors',
    'CheckpointError': 'trainkit.errors',
    'DataError': 'trainkit.errors',
    'TrainingDiverged': 'trainkit.errors',
    'ExponentialMovingAverage': 'trainkit.optim.ema',
    'load_checkpoint': 'trainkit.checkpointing.format',
    'load_model': 'trainkit.interface.load',
    'predict': 'trainkit.interface.predict',
    'TrainkitCalculator': 'trainkit.interface.calculator',
}
_LAZY.update({name: 'trainkit.registry' for name in (
    'MODELS', 'LOSSES', 'DATASETS', 'METRICS', 'HOOKS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS')})

__all__ = ['__version__', *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module "trainkit" has no attribute {name!r}')
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
