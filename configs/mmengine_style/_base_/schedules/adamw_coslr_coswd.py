# A schedule as an OpenMMLab project writes it (after MMPretrain's
# imagenet_bs256_coslr_coswd_300e.py, with AdamW): linear warmup by iteration, cosine LR,
# cosine weight decay through a param_name scheduler.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))

param_scheduler = [
    # warm up learning rate scheduler
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        # update by iter
        convert_to_iter_based=True),
    # main learning rate scheduler
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        convert_to_iter_based=True),
    # weight decay from 1e-4 down to 1e-6
    dict(
        type='CosineAnnealingParamScheduler',
        param_name='weight_decay',
        eta_min=1e-6,
        by_epoch=True,
        begin=0),
]

# train, val, test setting
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=32)
