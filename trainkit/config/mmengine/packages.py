"""OpenMMLab packages: the scope a component belongs to and the package that provides it.

Used to name what to install when a config names a component trainkit does not have, e.g.
``optim_wrapper = dict(optimizer=dict(type='LARS', ...))`` from an MMPretrain schedule.
"""
from typing import Optional

# registry scope -> pip package (where they differ, the scope is the import name)
PIP_NAMES = {'mmseg': 'mmsegmentation', 'mmaction': 'mmaction2', 'mmcls': 'mmcls',
             'mmedit': 'mmedit', 'mmagic': 'mmagic', 'mmtrack': 'mmtrack'}
# components of OpenMMLab packages often met in their schedules and runtimes -> their scope
KNOWN_COMPONENTS = {
    'LARS': 'mmpretrain', 'Lamb': 'mmpretrain', 'Adan': 'mmpretrain',
    'LearningRateDecayOptimWrapperConstructor': 'mmpretrain',
    'TSMOptimWrapperConstructor': 'mmaction', 'SwinOptimWrapperConstructor': 'mmaction',
    'LayerDecayOptimizerConstructor': 'mmseg',
    'LearningRateDecayOptimizerConstructor': 'mmseg', 'PolyLRRatio': 'mmseg',
    'QuadraticWarmupLR': 'mmdet', 'QuadraticWarmupMomentum': 'mmdet',
    'QuadraticWarmupParamScheduler': 'mmdet',
    'Accuracy': 'mmpretrain', 'SingleLabelMetric': 'mmpretrain',
    'MultiLabelMetric': 'mmpretrain', 'CocoMetric': 'mmdet', 'VOCMetric': 'mmdet',
    'IoUMetric': 'mmseg', 'CityscapesMetric': 'mmseg', 'PCKAccuracy': 'mmpose',
    'AUC': 'mmpose', 'NME': 'mmpose', 'EPE': 'mmpose', 'AccMetric': 'mmaction',
    'PipelineSwitchHook': 'mmdet', 'SyncNormHook': 'mmdet', 'MeanTeacherHook': 'mmdet',
    'NumClassCheckHook': 'mmdet', 'YOLOXModeSwitchHook': 'mmdet', 'SetEpochInfoHook': 'mmdet',
    'SwitchRecipeHook': 'mmpretrain', 'PrepareProtoBeforeValLoopHook': 'mmpretrain',
    'DenseCLHook': 'mmpretrain', 'SimSiamHook': 'mmpretrain', 'SwAVHook': 'mmpretrain',
}


def pip_name(scope: str) -> str:
    return PIP_NAMES.get(scope, scope)


def known_scope(name: str) -> Optional[str]:
    """The OpenMMLab scope a component name is known from, or None."""
    return KNOWN_COMPONENTS.get(name)
