"""tools/lr_find.py on the tiny config: a picture, a CSV and a suggestion; the config's work
dir is never created or touched; bad input exits 2."""
import csv

from tests.support.search import write_search_config
from tools import lr_find as tool


def test_writes_picture_and_table_and_leaves_the_work_dir_alone(tmp_path, capsys):
    path = write_search_config(tmp_path, dict(space={}))
    out = tmp_path / 'lr.png'
    assert tool.main([path, '--num-steps', '60', '--start-lr', '1e-5', '--end-lr', '10',
                      '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'suggested lr' in printed
    suggestion = float(printed.split('smoothed loss): ')[1].split()[0])
    with open(tmp_path / 'lr.csv', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    lrs = [float(r['lr']) for r in rows]
    assert lrs[0] == 1e-5 and lrs == sorted(lrs) and lrs[0] < suggestion < lrs[-1]
    assert out.stat().st_size > 5_000
    assert not (tmp_path / 'work').exists()


def test_bad_input_exits_2(tmp_path, capsys):
    path = write_search_config(tmp_path, dict(space={}))
    assert tool.main([path, '--out', str(tmp_path / 'missing' / 'lr.png')]) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert tool.main([path, '--start-lr', '1', '--end-lr', '0.1',
                      '--out', str(tmp_path / 'lr.png')]) == 2
    assert '--end-lr' in capsys.readouterr().err
