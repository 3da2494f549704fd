# Preview config for tools/vis_scheduler.py: trainkit's warmup dampens the main schedule from
# step 0. A long warmup (60 of 200 epochs) makes the difference to warmup_delayed.py visible.
_base_ = ['../preview_model.py']
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=60),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
