"""A fresh run in a used work dir moves the earlier run's files aside, untouched."""
import os

from trainkit.engine.work_dir import archive_previous_run


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def test_the_earlier_runs_checkpoints_logs_and_tracking_events_move_together(tmp_path):
    work = str(tmp_path)
    files = {'demo_last.pt': b'last', 'demo_0.pt': b'best', 'demo_config.py': b'cfg',
             'loss.log': b'log', 'loss.jsonl': b'{}', 'vis_data/events.out.tfevents.1': b'ev'}
    for name, data in files.items():
        _write(os.path.join(work, name), data)
    _write(os.path.join(work, 'notes.txt'), b'mine')           # not a run file: stays
    _write(os.path.join(work, 'other_last.pt'), b'other')      # another run name: stays
    target = archive_previous_run(work, 'demo')
    assert os.path.dirname(target) == os.path.join(work, 'previous')
    for name, data in files.items():
        assert not os.path.exists(os.path.join(work, name)), name
        with open(os.path.join(target, name), 'rb') as f:
            assert f.read() == data
    assert sorted(os.listdir(work)) == ['notes.txt', 'other_last.pt', 'previous']


def test_nothing_moves_without_an_earlier_runs_last_checkpoint(tmp_path):
    _write(os.path.join(str(tmp_path), 'vis_data', 'events.out.tfevents.1'), b'ev')
    assert archive_previous_run(str(tmp_path), 'demo') is None
    assert os.listdir(str(tmp_path)) == ['vis_data']
