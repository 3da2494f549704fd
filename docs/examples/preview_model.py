# A model and a train loader for previewing schedules with tools/vis_scheduler.py: the plot
# needs the real parameter groups, but no data is read.
model = dict(type='MLP', in_features=8, hidden=[16])
train_dataloader = dict(dataset=dict(type='SyntheticRegression', in_features=8), batch_size=32)
