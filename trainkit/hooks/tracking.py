"""Send the logger's rows to MMEngine visualization backends (TensorBoard, W&B, MLflow, ...).

The hook adds a sink to ``runner.log``: each train/val/epoch record the LoggerHook writes (only
at log rows, never per step) is turned into scalars at the run's global ``step`` and handed to
the backends. MMEngine's config syntax works as written::

    vis_backends = [dict(type='TensorboardVisBackend')]
    default_hooks = dict(tracking=dict(type='TrackingHook',
                                       vis_backends=[dict(type='TensorboardVisBackend')]))

Events go to ``{work_dir}/vis_data``. Main process only. TensorBoard gets one event per row
holding all its scalars (half the CPU time of an event per scalar, see docs/performance.md);
other backends get MMEngine's ``add_scalars``.
"""
import importlib.util
import os
from typing import Any, Dict, List, Optional

import mmengine.visualization  # noqa: F401 (registers the backends)
from mmengine.registry import VISBACKENDS

from trainkit.checkpointing.names import TRACKING_DIR
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS

# backend type -> the package it needs (checked before the run starts)
NEEDS = {'TensorboardVisBackend': 'tensorboard', 'WandbVisBackend': 'wandb',
         'MLflowVisBackend': 'mlflow', 'ClearMLVisBackend': 'clearml',
         'NeptuneVisBackend': 'neptune', 'DVCLiveVisBackend': 'dvclive',
         'AimVisBackend': 'aim'}
_SKIP = {'kind', 'epoch', 'step', 'step_in_epoch', 'time'}


def check_backends(vis_backends: Optional[List[dict]], where: str = 'vis_backends') -> None:
    """Raise a ConfigError for a malformed entry or a backend whose package is missing."""
    if vis_backends is None:
        return
    if not isinstance(vis_backends, (list, tuple)):
        raise ConfigError(f'{where}: expected a list of dicts like '
                          f"[dict(type='TensorboardVisBackend')], got {vis_backends!r}")
    for i, spec in enumerate(vis_backends):
        if not isinstance(spec, dict) or 'type' not in spec:
            raise ConfigError(f'{where}[{i}]: expected dict(type=...), got {spec!r}')
        package = NEEDS.get(spec['type'])
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"{where}[{i}]: {spec['type']} needs the package '{package}', "
                              f'which is not installed; pip install {package} or remove it')


def backends_from_config(plain: Dict[str, Any]) -> Optional[List[dict]]:
    """MMEngine's top-level ``vis_backends=[...]`` or ``visualizer=dict(vis_backends=[...])``
    (``None`` when neither is given); both at once or a malformed one is a ConfigError."""
    vis_backends, visualizer = plain.get('vis_backends'), plain.get('visualizer')
    if visualizer is not None:
        if not isinstance(visualizer, dict):
            raise ConfigError(f'visualizer: expected dict(type=\'Visualizer\', vis_backends=[...]),'
                              f' got {visualizer!r}')
        if vis_backends is not None and visualizer.get('vis_backends') is not None:
            raise ConfigError('vis_backends is given both at the top level and in visualizer; '
                              'keep one')
        vis_backends = visualizer.get('vis_backends', vis_backends)
    check_backends(vis_backends, 'vis_backends')
    return None if vis_backends is None else [dict(b) for b in vis_backends]


@HOOKS.register_module()
class TrackingHook(Hook):
    """Scalars of every log row to MMEngine vis backends, at the global step.

    Args:
        vis_backends: MMEngine backend dicts. Defaults to TensorBoard only.
        save_dir: folder under the work dir. Defaults to ``vis_data``.

    Config example::

        default_hooks = dict(tracking=dict(type='TrackingHook',
                                           vis_backends=[dict(type='TensorboardVisBackend')]))
    """

    # after the LoggerHook (BELOW_NORMAL): its after_run writes the summary row, which must
    # reach the backends before they are closed
    priority = 'VERY_LOW'

    def __init__(self, vis_backends: Optional[List[dict]] = None, save_dir: str = TRACKING_DIR):
        super().__init__()
        if vis_backends is None:
            vis_backends = [dict(type='TensorboardVisBackend')]
        check_backends(vis_backends, 'TrackingHook.vis_backends')
        self.vis_backends, self.save_dir = [dict(b) for b in vis_backends], save_dir
        self._backends: List[Any] = []

    def before_run(self, runner) -> None:
        if not runner.is_main:
            return

        save_dir = os.path.join(runner.work_dir, self.save_dir)
        self._backends = [VISBACKENDS.build(dict(spec, save_dir=spec.get('save_dir', save_dir)))
                          for spec in self.vis_backends]
        if runner.step > 0:  # resumed: drop points the interrupted run wrote past this step
            for backend in self._backends:
                if type(backend).__name__ == 'TensorboardVisBackend':
                    _purge_after(backend.experiment, runner.step)
        runner.log.add_sink(self._write)

    def _write(self, record: Dict[str, Any]) -> None:
        step, kind = record.get('step'), record.get('kind', 'train')
        scalars = {f'{kind}/{k}': float(v) for k, v in record.items()
                   if k not in _SKIP and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not scalars or step is None:
            return
        for backend in self._backends:
            if type(backend).__name__ == 'TensorboardVisBackend':
                _add_row(backend.experiment, scalars, int(step))
            else:
                backend.add_scalars(scalars, step=int(step))

    def after_run(self, runner) -> None:
        for backend in self._backends:
            backend.close()
        self._backends = []

    def on_exception(self, runner, error: BaseException) -> None:
        """Flush and close what was written so far (a resume purges what follows its step)."""
        self.after_run(runner)


def _purge_after(writer, step: int) -> None:
    """What ``SummaryWriter(purge_step=step + 1)`` writes: TensorBoard drops later points."""
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog  # noqa: PLC0415
    writer.file_writer.add_event(Event(step=step + 1, file_version='brain.Event:2'))
    writer.file_writer.add_event(
        Event(step=step + 1, session_log=SessionLog(status=SessionLog.START)))


def _add_row(writer, scalars: Dict[str, float], step: int) -> None:
    """All scalars of a row as one TensorBoard event: what ``add_scalar`` per key writes, in
    one record instead of one each (tensorboard checksums every record in pure Python, so a
    record per scalar costs the most)."""
    from tensorboard.compat.proto.summary_pb2 import Summary  # noqa: PLC0415
    writer.file_writer.add_summary(
        Summary(value=[Summary.Value(tag=tag, simple_value=value)
                       for tag, value in scalars.items()]), step)
