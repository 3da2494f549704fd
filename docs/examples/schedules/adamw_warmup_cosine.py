# Preview config for tools/vis_scheduler.py:
# configs/_base_/schedules/adamw_warmup_cosine.py with a model.
_base_ = ['../../../configs/_base_/schedules/adamw_warmup_cosine.py', '../preview_model.py']
