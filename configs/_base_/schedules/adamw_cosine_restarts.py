# AdamW with cosine annealing and warm restarts: first cycle 50 epochs, each next one twice
# as long (the reference's lr_scheduler: cosine_restarts, T_0=50, T_mult=2).
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=5),
    dict(type='CosineWarmRestartsLR', T_0=50, T_mult=2, eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=350, val_interval=1)
