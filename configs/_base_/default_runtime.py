# Runtime defaults every trainkit config can inherit: hooks, seeding and resume settings.
# The reference trainer's defaults: best_k=1, log_file='loss.log', log_steps=50, log_epochs=1.
default_hooks = dict(
    nan_guard=dict(type='NanGuardHook', action='stop'),
    logger=dict(type='LoggerHook', log_file='loss.log', log_steps=50, log_epochs=1),
    checkpoint=dict(type='CheckpointHook', best_k=1, monitor='weighted_mae', rule='less'),
)
custom_hooks = []
seed = None
resume = False
ckpt_file = None
