# AdamW, linear warmup over 10 epochs dampening a cosine decay to 0 over the whole run
# (the reference trainer's defaults: max_lr 5e-4, min_lr 0, warmup linear/10, cosine).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=10),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300, val_interval=1)
