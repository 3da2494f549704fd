# The runtime and schedule part of an MMPose top-down config
# (td-hm_hrnet-w32_8xb64-210e_coco-256x192.py), which inherits default_runtime.py
_base_ = ['default_runtime.py']

train_cfg = dict(max_epochs=210, val_interval=10)

# hooks
default_hooks = dict(checkpoint=dict(interval=10))
optim_wrapper = dict(optimizer=dict(
    type='Adam',
    lr=5e-4,
))
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),
    dict(
        type='MultiStepLR',
        begin=0,
        end=210,
        milestones=[170, 200],
        gamma=0.1,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=512)
