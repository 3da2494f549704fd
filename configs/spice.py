# The main job: a neural-network potential trained on energies and forces of SPICE molecules.
#
#   python tools/train.py configs/spice.py
#
# With no data/spice-demo.hdf5 present, a small synthetic file in the SPICE layout is written
# there first (48 molecules of H, C, N, O; Morse bonds + Lennard-Jones, exact forces; ~1 s;
# marked synthetic inside, and only ever written under a name containing "demo"). To train
# on the real SPICE data, download e.g. SPICE-2.0.1.hdf5 (https://github.com/openmm/spice-dataset)
# and point both datasets at it (or edit _data_path below):
#
#   python tools/train.py configs/spice.py --cfg-options \
#       train_dataloader.dataset.path=/data/SPICE-2.0.1.hdf5 \
#       val_dataloader.dataset.path=/data/SPICE-2.0.1.hdf5 \
#       test_dataloader.dataset.path=/data/SPICE-2.0.1.hdf5 \
#       train_dataloader.dataset.demo_if_missing=False \
#       val_dataloader.dataset.demo_if_missing=False \
#       test_dataloader.dataset.demo_if_missing=False \
#       train_dataloader.dataset.max_molecules=2000 val_dataloader.dataset.max_molecules=2000 \
#       test_dataloader.dataset.max_molecules=2000
#
# (a wrong path to real data is an error: the demo file is written only under a name containing
# "demo", and with demo_if_missing=False a file marked synthetic is refused)
#
# (the real file has elements beyond H, C, N, O: widen `elements` or keep the filter; expect to
# want more epochs and a larger model).
#
# Reference defaults used: AdamW, smoothl1, linear warmup, cosine annealing, EMA 0.995, best_k,
# early stopping on energy and forces MAE. Two choices were measured on this demo: over 30
# epochs a forces weight of 100 (the reference document's own example) gave the same forces MAE
# as 1000 (0.033 eV/A) with a 3x lower energy MAE (0.10 vs 0.31 eV); over 60 epochs lr 5e-3
# beat 2e-3 (energy 0.043 vs 0.077 eV, forces 0.023 vs 0.028 eV/A). README.md has the run.
# (Those runs predate the test split: 10 % of the molecules are now held out for
# `python tools/test.py configs/spice.py CKPT`, taken from training; validation is unchanged.)
_base_ = ['_base_/schedules/adamw_warmup_cosine.py', '_base_/default_runtime.py']

run_name = 'spice-demo'
work_dir = 'work_dirs/spice-demo'
seed = 0

_data_path = 'data/spice-demo.hdf5'
_dataset = dict(type='SpiceDataset', path=_data_path, val_fraction=0.15, test_fraction=0.1,
                seed=0, energy_key='dft_total_energy', length_unit='angstrom', energy_unit='eV',
                reference_energies='fit', max_molecules=None, elements=['H', 'C', 'N', 'O'],
                collate='flat', demo_if_missing=True)
train_dataloader = dict(dataset=dict(_dataset, split='train'), batch_size=32, shuffle=True,
                        num_workers=0, drop_last=False)
val_dataloader = dict(dataset=dict(_dataset, split='val'), batch_size=128)
# tools/test.py and Runner.test(): molecules neither trained nor validated on (same seed and
# fractions, so the three splits are disjoint); training never reads it
test_dataloader = dict(dataset=dict(_dataset, split='test'), batch_size=128)
test_cfg = dict(type='TestLoop')

model = dict(type='NeuralPotential', cutoff=5.0, num_features=64, num_rbf=16,
             num_interactions=2)
loss = dict(type='WeightedLoss', lossfn='smoothl1',
            losses_weight=dict(energy=1.0, forces=100.0))

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-3, weight_decay=0.0),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=2),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=60, val_interval=1)

default_hooks = dict(
    logger=dict(type='LoggerHook', log_file='loss.log', log_steps=20, log_epochs=1),
    checkpoint=dict(type='CheckpointHook', best_k=3, monitor='weighted_mae', rule='less'),
    ema=dict(type='EMAHook', ema_decay=0.995),
)
# Stop once both errors are below chemical-accuracy-like bounds (eV, eV/Å) or stall.
custom_hooks = [
    dict(type='EarlyStoppingHook', early_stopping_mode='and', early_stoppings=dict(
        energy=dict(metric='mae', patience=10, threshold=0.0, lower_bound=0.01),
        forces=dict(metric='mae', patience=10, threshold=0.0, lower_bound=0.02))),
]
