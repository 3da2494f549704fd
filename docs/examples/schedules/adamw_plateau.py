# Preview config for tools/vis_scheduler.py: configs/_base_/schedules/adamw_plateau.py with a model.
_base_ = ['../../../configs/_base_/schedules/adamw_plateau.py', '../preview_model.py']
