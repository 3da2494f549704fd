# Preview config for tools/vis_scheduler.py: configs/_base_/schedules/sgd_multistep.py with a model.
_base_ = ['../../../configs/_base_/schedules/sgd_multistep.py', '../preview_model.py']
