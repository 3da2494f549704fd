# Runtime defaults every trainkit config can inherit: hooks, seeding and resume settings.
# The reference trainer's defaults: best_k=1, log_file='loss.log', log_steps=50, log_epochs=1.
# EMA is off here (the reference's ema_decay=0.995 is what a `trainer:` section gets, and what
# configs/spice.py sets); turn it on with
#   default_hooks = dict(ema=dict(type='EMAHook', ema_decay=0.995))
default_hooks = dict(
    nan_guard=dict(type='NanGuardHook', action='stop'),
    logger=dict(type='LoggerHook', log_file='loss.log', log_steps=50, log_epochs=1),
    checkpoint=dict(type='CheckpointHook', best_k=1, monitor='weighted_mae', rule='less'),
    # every log row to TensorBoard under {work_dir}/vis_data: tensorboard --logdir work_dirs
    tracking=dict(type='TrackingHook', vis_backends=[dict(type='TensorboardVisBackend')]),
)
custom_hooks = []
seed = None
resume = False
ckpt_file = None
