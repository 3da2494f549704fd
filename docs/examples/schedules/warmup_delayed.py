# Preview config for tools/vis_scheduler.py: the MMEngine/MMPretrain-style warmup, a LinearLR
# over the first 60 epochs and a cosine that starts after it (delayed, not dampened).
_base_ = ['../preview_model.py']
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, end=60,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=60,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
