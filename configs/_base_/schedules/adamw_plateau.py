# AdamW with reduce-on-plateau on the validation error: halve the LR after 20 epochs without
# improvement; stop once a reduction would take the LR below 1e-6 (the reference's plateau).
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=5),
    dict(type='PlateauLR', monitor='weighted_mae', factor=0.5, patience=20, stop_lr=1e-6),
]
train_cfg = dict(max_epochs=1000, val_interval=1)
