"""Where trainkit's per-iteration overhead goes, on the job of ``bench/overhead.py``.

    python bench/overhead_breakdown.py           # ablation runs + per-piece micro-timings
    python bench/overhead_breakdown.py --quick

Two views:

1. **Ablation** — a ladder of whole runs, interleaved: the raw loop, then trainkit's pieces
   added one at a time (the model contract, WeightedLoss, the optimizer wrapper, the Runner,
   each default hook), so each piece's share is measured in place, in the training loop
   (CPU µs/iteration over the raw loop and over the row above; best of the repetitions, which
   is the steadiest on a busy machine, and medians of paired differences).
2. **Pieces** — each piece of per-step (and per-log-row, per-epoch) work that trainkit does
   beyond the raw loop, timed in isolation (best of many calls), next to the minimal
   equivalent, and — where a change is proposed in ``docs/performance.md`` — next to a
   prototype of that change written here (``proposed``; for a change already made, the
   former code, for comparison: then "saved" is negative). Per-epoch and per-row costs are
   also given amortized per iteration for the job (200 iterations per epoch, a row every 50).

3. **In the loop** — the same hook methods and checkpoint functions timed (``perf_counter``
   around each call) while ``Runner.train()`` runs the job with the default hooks: between
   torch's kernels the interpreter and the small tensor ops run on cold caches, so a piece
   costs several times its isolated time there (best of the repetitions, µs per iteration).

The pieces reach into trainkit's internals (hook objects, the optimizer wrapper, the
checkpoint functions); a piece whose internals have changed prints ``n/a`` instead of
failing, so the script keeps working while the proposed changes are applied.
"""
import argparse
import math
import os
import statistics
import sys
import tempfile
import time

import _common  # noqa: F401
import overhead as job_mod
import torch
import torch.nn.functional as F
from _common import environment_lines, table

ITERS_PER_EPOCH, LOG_STEPS = 200, 50


def per_call(fns, number: int, rounds: int):
    """Best seconds per call of each function, rounds interleaved."""
    best = {name: math.inf for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return best


def once(fn, rounds: int, setup=None):
    """Best and median seconds of single calls (for millisecond-scale, I/O-bound pieces);
    ``setup`` runs untimed before each call."""
    times = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


# ----------------------------------------------------------------------------- ablation
def ablation(job, repeats: int):
    from trainkit import Runner
    from trainkit.models.mlp import MLP

    def trainkit_with(hooks):
        def run():
            model = MLP(job_mod.IN_FEATURES, (job_mod.HIDDEN, job_mod.HIDDEN), 1)
            model.net.load_state_dict(job.init_state)
            work_dir = job.work_dir()
            with job_mod.quiet():
                runner = Runner(model, job.loader(),
                                optim_wrapper=dict(optimizer=dict(type='AdamW', lr=job_mod.LR)),
                                loss=dict(type='WeightedLoss', lossfn='mse',
                                          losses_weight=dict(y=1.0)),
                                hooks=hooks() if hooks is not None else None,
                                max_epochs=job.epochs, work_dir=work_dir, run_name='bench',
                                seed=0, device='cpu')
                torch.set_num_threads(1)
                with job_mod.Timer() as timer:
                    runner.train()
            return timer
        return run

    def hand_loop(model_dict: bool, weighted_loss: bool, wrapper: bool):
        """The raw loop with trainkit's pieces added one by one: the model contract (an MLP
        taking and returning dicts), WeightedLoss, the optimizer wrapper."""
        from trainkit.losses import WeightedLoss
        from trainkit.optim import build_optim_wrapper

        def run():
            model = MLP(job_mod.IN_FEATURES, (job_mod.HIDDEN, job_mod.HIDDEN), 1)
            model.net.load_state_dict(job.init_state)
            loss_fn = WeightedLoss(dict(y=1.0), lossfn='mse')
            optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=job_mod.LR)))
            optimizer = optim.optimizer
            loader = job.loader()
            with job_mod.Timer() as timer:
                model.train()
                for epoch in range(job.epochs):
                    loader.sampler.set_epoch(epoch)
                    if wrapper:
                        optim.begin_epoch(len(loader))
                    for batch in loader:
                        if not model_dict:
                            loss = F.mse_loss(model.net(batch['x']), batch['y'])
                        elif not weighted_loss:
                            loss = F.mse_loss(model(batch)['y'], batch['y'])
                        elif not wrapper:
                            loss = loss_fn(model(batch), batch)['loss']
                        else:  # as the Runner uses the wrapper (optim_context only if needed)
                            if optim.needs_optim_context(model):
                                with optim.optim_context(model):
                                    loss = loss_fn(model(batch), batch)['loss']
                            else:
                                loss = loss_fn(model(batch), batch)['loss']
                            optim.update_params(loss)
                            continue
                        loss.backward()
                        optimizer.step()
                        optimizer.zero_grad()
            return timer
        return run

    from trainkit.hooks import LoggerHook, NanGuardHook
    variants = {
        'raw loop': lambda: job_mod.run_raw(job)[0],
        '+ model contract (MLP: dict in, dict out)': hand_loop(True, False, False),
        '+ WeightedLoss': hand_loop(True, True, False),
        '+ OptimWrapper (optim_context, update_params)': hand_loop(True, True, True),
        '= Runner.train(), no hooks': trainkit_with(lambda: []),
        '+ NanGuardHook': trainkit_with(lambda: [NanGuardHook()]),
        '+ LoggerHook (a row every 50 steps)': trainkit_with(
            lambda: [NanGuardHook(), LoggerHook(log_steps=LOG_STEPS)]),
        '+ CheckpointHook (= the default hooks)': trainkit_with(None),
    }
    names = list(variants)
    times = {name: [] for name in names}
    for name in names:  # warm-up
        variants[name]()
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            import gc
            gc.collect()
            times[name].append(variants[name]())
        print(f'  ablation repetition {rep + 1}/{repeats}', file=sys.stderr)
    rows = []
    previous = None
    for name in names:
        cpu = [x.cpu for x in times[name]]
        wall = [x.wall for x in times[name]]
        raw_cpu = [x.cpu for x in times['raw loop']]
        raw_wall = [x.wall for x in times['raw loop']]

        def us(a, b):
            return (a - b) / job.iters * 1e6
        step = us(min(cpu), min(x.cpu for x in times[previous])) if previous else 0.0
        rows.append([name, f'{min(cpu):.3f}', f'{us(min(cpu), min(raw_cpu)):+.1f}',
                     f'{statistics.median(us(a, b) for a, b in zip(cpu, raw_cpu)):+.1f}',
                     f'{step:+.1f}', f'{min(cpu) / min(raw_cpu):.3f}',
                     f'{statistics.median(us(a, b) for a, b in zip(wall, raw_wall)):+.1f}'])
        previous = name
    return table(['run (each row adds to the one above)', 'CPU best s',
                  'CPU µs/iter over raw (best)', 'CPU µs/iter over raw (median of paired)',
                  'this row adds, µs/iter (best)', 'CPU best / raw best',
                  'wall µs/iter over raw (median of paired)'], rows)


# ----------------------------------------------------------------------------- pieces
class Pieces:
    """A trained-for-one-epoch Runner (default hooks + EMA) to time its pieces on."""

    def __init__(self, scratch: str):
        from trainkit import Runner
        from trainkit.hooks.build import list_hooks
        from trainkit.models.mlp import MLP
        self.job = job_mod.Job(1, ITERS_PER_EPOCH, False, scratch)
        self.model = MLP(job_mod.IN_FEATURES, (job_mod.HIDDEN, job_mod.HIDDEN), 1)
        self.model.net.load_state_dict(self.job.init_state)
        hooks = list_hooks({'default_hooks': {'ema': dict(type='EMAHook', ema_decay=0.995)}})
        self.work_dir = self.job.work_dir()
        with job_mod.quiet():
            self.runner = Runner(self.model, self.job.loader(),
                                 optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                 loss=dict(type='WeightedLoss', lossfn='mse',
                                           losses_weight=dict(y=1.0)),
                                 hooks=hooks, max_epochs=1, work_dir=self.work_dir,
                                 run_name='bench', seed=0, device='cpu')
            self.runner.train()
        torch.set_num_threads(1)
        self.batch = next(iter(self.job.loader()))
        self.preds = self.model(self.batch)
        self.losses = self.runner._compute_loss(self.preds, self.batch)
        self.hooks = {type(h).__name__: h for h in self.runner.hooks}


def piece_rows(p: Pieces, number: int, rounds: int):
    """[(piece, per, now µs, minimal µs, proposed µs or None, note)]"""
    runner, batch, preds, losses = p.runner, p.batch, p.preds, p.losses
    x, y = batch['x'], batch['y']
    out = []

    def add(piece, per, fns, note=''):
        try:
            best = per_call(fns, number, rounds)
        except Exception as err:  # internals changed: keep going
            out.append((piece, per, None, None, None, f'n/a ({type(err).__name__}: {err})'))
            return
        out.append((piece, per, best.get('now'), best.get('minimal'), best.get('proposed'),
                    note))

    # 1. NaN guard
    nan_guard = p.hooks.get('NanGuardHook')
    add('NanGuardHook.before_backward', 'step',
        {'now': lambda: nan_guard.before_backward(runner, losses), 'minimal': lambda: None,
         'proposed': lambda: bool(torch.isfinite(losses['loss']))},
        'one .item() read of the loss; "proposed" here is the former torch.isfinite check '
        '(3-4 small ops), kept for comparison')

    # 2. LoggerHook, a step without a row
    logger = p.hooks.get('LoggerHook')
    total = [None]

    def logger_now():
        runner.stepped, runner.progress.step = True, 1  # not a log step
        logger.after_train_iter(runner, 0, batch, preds, losses)

    def logger_former():
        terms = torch.stack([v.detach().float() for v in losses.values()])
        total[0] = terms if total[0] is None else total[0] + terms
    add('LoggerHook.after_train_iter (no row)', 'step',
        {'now': logger_now, 'minimal': lambda: None, 'proposed': logger_former},
        'detached terms appended to a list, folded every 1,024 terms; "proposed" here is the '
        'former stack + add per step, kept for comparison')

    # 3. optim_context: the Runner asks needs_optim_context once per epoch
    wrapper = runner.optim_wrapper
    use_context = runner._use_optim_context

    def ctx_now():
        if use_context:
            with wrapper.optim_context(runner.model):
                pass

    def ctx_former():
        with wrapper.optim_context(runner.model):
            pass
    add('OptimWrapper.optim_context enter/exit', 'step',
        {'now': ctx_now, 'minimal': lambda: None, 'proposed': ctx_former},
        'skipped when it would only yield (no AMP, no DDP no_sync window); "proposed" here '
        'is the former per-step context, kept for comparison')

    # 4. update_params glue, isolated on a one-parameter problem
    from trainkit.optim.wrapper import OptimWrapper
    w = torch.zeros(1, requires_grad=True)
    tk_wrapper = OptimWrapper(optimizer=torch.optim.AdamW([w], lr=1e-3))
    tk_wrapper.begin_epoch(10 ** 9)
    v = torch.zeros(1, requires_grad=True)
    opt_b = torch.optim.AdamW([v], lr=1e-3)
    u = torch.zeros(1, requires_grad=True)
    former_wrapper = OptimWrapper(optimizer=torch.optim.AdamW([u], lr=1e-3))
    former_wrapper.begin_epoch(10 ** 9)
    former_wrapper._direct = False  # the long way: scale_loss, backward, should_update, ...

    def update_now():
        runner.stepped = tk_wrapper.update_params((w * 2).sum())

    def update_former():
        former_wrapper.update_params((u * 2).sum())
        runner.stepped = former_wrapper.should_update()

    def update_minimal():
        loss = (v * 2).sum()
        loss.backward()
        opt_b.step()
        opt_b.zero_grad()
    add('OptimWrapper.update_params (glue only)', 'step',
        {'now': update_now, 'minimal': update_minimal, 'proposed': update_former},
        'direct path: backward, step(), zero_grad; "proposed" here is the former path '
        '(mmengine\'s scale_loss/backward/should_update/zero_grad wrappers), for comparison')

    # 5. loss
    from trainkit.losses import WeightedLoss
    with torch.enable_grad():
        preds_g = p.model(batch)
    former_loss = WeightedLoss(dict(y=1.0), lossfn='mse')
    former_loss._call_for[:] = [former_loss.lossfn, former_loss.lossfn]  # the module call

    add('WeightedLoss (Runner._compute_loss) vs F.mse_loss', 'step',
        {'now': lambda: runner._compute_loss(preds_g, batch),
         'minimal': lambda: F.mse_loss(preds_g['y'], y),
         'proposed': lambda: former_loss(preds_g, batch)},
        'the ATen kernel called directly (shapes checked, so F.mse_loss\'s broadcast_tensors '
        'and Module.__call__ are skipped): cheaper than F.mse_loss itself; "proposed" here is '
        'the former nn.Module call of MSELoss, for comparison')

    # 6. model contract
    with torch.enable_grad():
        add('MLP(batch) -> dict vs nn.Sequential(x)', 'step',
            {'now': lambda: p.model(batch), 'minimal': lambda: p.model.net(x)},
            'the model contract: one more Module call and a dict (inherent)')

    # 7. schedule with no schedulers
    add('ParamSchedule.after_optim_step (no schedulers)', 'step',
        {'now': runner.schedule.after_optim_step, 'minimal': lambda: None})

    # 8. EMA
    ema_hook = p.hooks.get('EMAHook')
    if ema_hook is not None:
        params = [t.detach() for t in p.model.parameters()]
        shadow = [t.clone() for t in params]
        ema_own = [t.detach().clone() for t in params]
        counter = [0]

        def ema_proposed():  # detached source list cached: no no_grad context needed
            runner.stepped = True
            if runner.stepped:
                torch._foreach_lerp_(ema_own, params, 0.005)
                counter[0] += 1

        def ema_now():
            runner.stepped = True
            ema_hook.after_train_iter(runner, 0, batch, preds, losses)
        add('EMAHook.after_train_iter vs bare _foreach_lerp_', 'step',
            {'now': ema_now, 'minimal': lambda: torch._foreach_lerp_(shadow, params, 0.005),
             'proposed': ema_proposed},
            'no_grad decorator, id() check, counters; the lerp itself is the same call')

    # 9. per-row and per-epoch work (millisecond scale: single calls)
    rows_once = []

    def add_once(piece, per, every, now, minimal=None, proposed=None, note='', n=rounds * 3,
                 now_setup=None):
        try:
            now_t = once(now, n, now_setup)
            min_t = once(minimal, n) if minimal else None
            prop_t = once(proposed, n) if proposed else None
        except Exception as err:
            rows_once.append((piece, per, every, None, None, None, f'n/a ({err})'))
            return
        rows_once.append((piece, per, every, now_t, min_t, prop_t, note))

    with job_mod.quiet():
        runner.progress.step = LOG_STEPS
        add_once('LoggerHook._train_row (a log row)', 'row', LOG_STEPS,
                 lambda: logger._train_row(runner, batch, preds, losses),
                 note='tolist, train MAE/RMSE of the batch, text + JSON line, console')
        runner.progress.epoch = 0
        add_once('LoggerHook.after_train_epoch (epoch row)', 'epoch', ITERS_PER_EPOCH,
                 lambda: logger.after_train_epoch(runner))
    from trainkit.checkpointing import format as ckpt
    from trainkit.checkpointing.writer import BackgroundWriter
    state = runner.checkpoint_state({'monitor': 'weighted_mae', 'value': None})
    data = ckpt.serialize(state)
    path = os.path.join(p.work_dir, 'bench_piece.pt')
    plain_path = path + '.plain'
    writer = BackgroundWriter()

    def plain_write():
        with open(plain_path, 'wb') as f:
            f.write(data)

    add_once('Runner.checkpoint_state', 'epoch', ITERS_PER_EPOCH,
             lambda: runner.checkpoint_state({'monitor': 'weighted_mae', 'value': None}))
    add_once('checkpoint.serialize (torch.save to bytes)', 'epoch', ITERS_PER_EPOCH,
             lambda: ckpt.serialize(state), note=f'{len(data) / 1e3:.0f} kB')
    add_once('checkpoint write on the training thread', 'epoch', ITERS_PER_EPOCH,
             lambda: writer.submit([(path, data)]), now_setup=writer.wait,
             minimal=plain_write, proposed=lambda: ckpt.atomic_write(path, data),
             note='now: BackgroundWriter.submit, atomic_write (write, fsync, rename, fsync '
                  'dir) on a thread; minimal: open/write without fsync (what MMEngine and '
                  'Lightning do); "proposed" here is the former atomic_write on the '
                  'training thread')
    writer.wait()
    return out, rows_once


def pieces_tables(out, rows_once):
    rows = []
    for piece, per, now, minimal, proposed, note in out:
        if now is None:
            rows.append([piece, per, '-', '-', '-', '-', '-', note])
            continue
        cost = (now - (minimal or 0)) * 1e6
        saved = (now - proposed) * 1e6 if proposed is not None else None
        rows.append([piece, per, f'{now * 1e6:.2f}', f'{minimal * 1e6:.2f}'
                     if minimal is not None else '-', f'{cost:+.2f}',
                     f'{proposed * 1e6:.2f}' if proposed is not None else '-',
                     f'{saved:+.2f}' if saved is not None else '-', note])
    t1 = table(['piece', 'per', 'now µs', 'minimal µs', 'cost µs/step', 'proposed µs',
                'saved µs/step', 'note'], rows, align='llrrrrrl')
    rows = []
    for piece, per, every, now, minimal, proposed, note in rows_once:
        if now is None:
            rows.append([piece, per, '-', '-', '-', '-', '-', note])
            continue
        fmt = lambda bm: f'{bm[0] * 1e3:.2f} / {bm[1] * 1e3:.2f}'  # noqa: E731
        rows.append([piece, f'{per} (every {every} it.)', fmt(now),
                     fmt(minimal) if minimal else '-',
                     f'{(now[1] - (minimal[1] if minimal else 0)) / every * 1e6:+.1f}',
                     fmt(proposed) if proposed else '-',
                     f'{(now[1] - proposed[1]) / every * 1e6:+.1f}' if proposed else '-',
                     note])
    t2 = table(['piece', 'per', 'now ms (best / median)', 'minimal ms', 'cost µs/iter '
                '(median, amortized)', 'proposed ms', 'saved µs/iter', 'note'], rows,
               align='llrrrrrl')
    return t1, t2


# ----------------------------------------------------------------------------- in the loop
IN_LOOP = (('trainkit.hooks.nan_guard', 'NanGuardHook', 'before_backward'),
           ('trainkit.hooks.logger', 'LoggerHook', 'after_train_iter'),
           ('trainkit.hooks.logger', 'LoggerHook', '_train_row'),
           ('trainkit.hooks.logger', 'LoggerHook', 'after_train_epoch'),
           ('trainkit.hooks.checkpoint', 'CheckpointHook', 'after_train_epoch'),
           ('trainkit.engine.runner', 'Runner', 'checkpoint_state'),
           ('trainkit.hooks.checkpoint', None, 'serialize'),
           ('trainkit.checkpointing.writer', 'BackgroundWriter', 'submit'),
           ('trainkit.checkpointing.writer', 'BackgroundWriter', 'wait'),
           ('trainkit.checkpointing.writer', None, 'atomic_write'))


def in_loop(job, repeats: int):
    """Per-iteration wall µs of each ``IN_LOOP`` piece inside ``Runner.train()``."""
    import importlib
    totals, calls, patched = {}, {}, []

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
                calls[name] = calls.get(name, 0) + 1
        return wrapper

    for module_name, cls_name, attr in IN_LOOP:
        owner = importlib.import_module(module_name)
        owner = getattr(owner, cls_name) if cls_name else owner
        name = f'{cls_name}.{attr}' if cls_name else f'checkpoint.{attr}'
        if module_name == 'trainkit.checkpointing.writer' and cls_name is None:
            name += ' (writer thread, beside training)'
        patched.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, timed(name, getattr(owner, attr)))
    best, counts = {}, {}
    try:
        for _ in range(repeats + 1):  # the first run warms up
            totals.clear()
            calls.clear()
            job_mod.run_trainkit(job)
            for name, seconds in totals.items():
                best[name] = min(best.get(name, math.inf), seconds)
                counts[name] = calls[name]
    finally:
        for owner, attr, original in patched:
            setattr(owner, attr, original)
    rows = [[name, f'{counts[name]:,}', f'{best[name] / counts[name] * 1e6:.1f}',
             f'{best[name] / job.iters * 1e6:.2f}'] for name in best]
    return table(['piece (default hooks; nested calls are inside their caller)', 'calls',
                  'µs per call', 'µs per iteration'], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--repeats', type=int, default=None,
                        help='ablation repetitions (default 7, 2 with --quick)')
    parser.add_argument('--skip-ablation', action='store_true')
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    epochs = 2 if args.quick else 10
    number, rounds = (300, 5) if args.quick else (2000, 9)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix='trainkit-bench-') as scratch:
        ablation_table = None
        if not args.skip_ablation:
            job = job_mod.Job(epochs, ITERS_PER_EPOCH, False, scratch)
            ablation_table = ablation(job, repeats)
        loop_table = in_loop(job_mod.Job(epochs, ITERS_PER_EPOCH, False, scratch),
                             max(repeats, 3))
        pieces = Pieces(scratch)
        t1, t2 = pieces_tables(*piece_rows(pieces, number, rounds))
    settings = {'job': 'as bench/overhead.py', 'iterations': f'{epochs * ITERS_PER_EPOCH}',
                'threads': 1, 'ablation repetitions': repeats,
                'micro-timings': f'best of {rounds} rounds x {number} calls'}
    print('## trainkit overhead breakdown\n')
    print(environment_lines(settings))
    if ablation_table:
        print('\n### Ablation: trainkit\'s pieces added to the raw loop one at a time\n')
        print(ablation_table)
    print('\n### Per-step pieces (best µs per call)\n')
    print(t1)
    print('\n### Per-row and per-epoch pieces\n')
    print(t2)
    print('\n### The same pieces inside the training loop (wall, best of the repetitions)\n')
    print(loop_table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
