# Finetuning with layer-wise LR decay: block i of L gets lr * 0.75 ** (L - i), the head the full
# LR; 1-D parameters get no weight decay. Set block_attr to your model's block list.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, block_attr='blocks', no_decay_names=[]),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=2),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=1)
