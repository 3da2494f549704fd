"""The tiny, fast, seeded regression config most tests start from, and the repository root."""
import copy
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config(work_dir, **overrides):
    """A small, fast, seeded MLP-regression config as a plain dict."""
    cfg = dict(
        run_name='tiny',
        work_dir=str(work_dir),
        seed=0,
        model=dict(type='MLP', in_features=4, hidden=[16]),
        train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=64,
                                           in_features=4), batch_size=16, shuffle=True),
        val_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=32,
                                         in_features=4, split='val'), batch_size=16),
        loss=dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        param_scheduler=[dict(type='LinearWarmup', warmup_epochs=1),
                         dict(type='CosineAnnealingLR', by_epoch=True,
                              convert_to_iter_based=True)],
        train_cfg=dict(max_epochs=4),
        default_hooks=dict(logger=dict(type='LoggerHook', log_steps=2, progress_bar=False)),
    )
    for key, value in overrides.items():
        cfg[key] = value
    return copy.deepcopy(cfg)
