# Preview config for tools/vis_scheduler.py: configs/_base_/schedules/layer_decay_finetune.py
# with the SPICE potential, whose blocks are `interactions` (one LR curve per layer group).
_base_ = ['../../../configs/_base_/schedules/layer_decay_finetune.py', '../preview_model.py']
model = dict(_delete_=True, type='NeuralPotential', num_features=32, num_interactions=3)
optim_wrapper = dict(paramwise_cfg=dict(block_attr='interactions'))
