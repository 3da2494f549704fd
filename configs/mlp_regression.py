# A non-molecular example: an MLP regressing a synthetic function. Same runner, same hooks.
#   python tools/train.py configs/mlp_regression.py
_base_ = ['_base_/schedules/adamw_warmup_cosine.py', '_base_/default_runtime.py']

run_name = 'mlp-regression'
work_dir = 'work_dirs/mlp-regression'
seed = 0
model = dict(type='MLP', in_features=32, hidden=[128, 128], out_features=1)
train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=4096, in_features=32),
                        batch_size=32, shuffle=True)
val_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=1024, in_features=32,
                                   split='val'), batch_size=256)
loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0))
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=1),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=20)
default_hooks = dict(checkpoint=dict(best_k=2), ema=dict(type='EMAHook', ema_decay=0.99))
