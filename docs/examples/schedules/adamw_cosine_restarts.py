# Preview config for tools/vis_scheduler.py:
# configs/_base_/schedules/adamw_cosine_restarts.py with a model.
_base_ = ['../../../configs/_base_/schedules/adamw_cosine_restarts.py', '../preview_model.py']
