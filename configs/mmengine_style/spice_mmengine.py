# The SPICE demo (configs/spice.py) written in MMEngine's style: an OpenMMLab runtime and
# schedule as _base_, MMEngine's hook names and arguments, MMEngine runtime keys.
#
#   python tools/train.py configs/mmengine_style/spice_mmengine.py
#
# Each key trainkit accepts without using prints one `notice:` line saying why
# (docs/config.md, "MMEngine configs").
_base_ = ['_base_/schedules/adamw_coslr_coswd.py', '_base_/default_runtime.py']

experiment_name = 'spice-mmengine'
work_dir = 'work_dirs/spice-mmengine'
randomness = dict(seed=0, deterministic=False)

dataset_type = 'SpiceDataset'        # helper variables, as OpenMMLab configs keep them
data_root = 'data/spice-demo.hdf5'
spice = dict(type=dataset_type, path=data_root, val_fraction=0.15, test_fraction=0.1, seed=0,
             energy_key='dft_total_energy', length_unit='angstrom', energy_unit='eV',
             reference_energies='fit', elements=['H', 'C', 'N', 'O'], collate='flat',
             demo_if_missing=True)
train_dataloader = dict(dataset=dict(spice, split='train'), batch_size=32, num_workers=0,
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(dataset=dict(spice, split='val'), batch_size=128, num_workers=0,
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(dataset=dict(spice, split='test'), batch_size=128, num_workers=0,
                       sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='ErrorMetrics')
test_evaluator = val_evaluator

model = dict(type='NeuralPotential', cutoff=5.0, num_features=64, num_rbf=16,
             num_interactions=2)
loss = dict(type='WeightedLoss', lossfn='smoothl1',
            losses_weight=dict(energy=1.0, forces=100.0))

default_hooks = dict(logger=dict(type='LoggerHook', interval=20))
custom_hooks = [
    dict(type='EMAHook', momentum=0.005, priority=49),
    dict(type='EarlyStoppingHook', monitor='weighted_mae', rule='less', min_delta=0.0,
         patience=10),
]
