# A hyper-parameter search over the SPICE demo (configs/spice.py): TPE (Bayesian) sampling with
# Hyperband pruning, 20 trials of at most 20 epochs, ranked by the weighted validation MAE.
#
#   python tools/search.py configs/spice_search.py            # study in work_dirs/spice-search
#   python tools/search.py configs/spice_search.py --resume   # after Ctrl-C or a kill
#
# Every trial is a normal run in work_dirs/spice-search/trials/<n>/; at the end the trial table
# (search_results.csv/.json), best_config.py (python tools/train.py ... runs it) and the plots.
# docs/tuning.md explains the methods, the keys and how to run one search on many machines.
_base_ = ['spice.py']

run_name = 'spice-search'
work_dir = 'work_dirs/spice-search'

search = dict(
    metric='weighted_mae', direction='minimize', n_trials=20,
    sampler='tpe',                  # grid | random | tpe | gp
    pruner='hyperband',             # none | median | hyperband | successive_halving
    space={
        'optim_wrapper.optimizer.lr': dict(type='float', low=5e-4, high=1e-2, log=True),
        'model.num_features': dict(type='int', low=32, high=128, step=32),
        'model.num_interactions': dict(type='categorical', choices=[1, 2, 3]),
        # the loss weights are not searched here: weighted_mae = sum of w * MAE would rank
        # trials with other weights on another scale (search them with metric='forces_mae')
    },
    epochs_per_trial=20)            # None: train_cfg.max_epochs (60)
