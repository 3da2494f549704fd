"""The demo_if_missing fallback never passes synthetic data off as real: it writes only under
a demo file name, never during a dry run, and the file it writes is marked synthetic (a mark
that warns when read, and is refused with demo_if_missing=False)."""
import os

import h5py
import pytest

from trainkit.datasets.spice import SpiceDataset
from trainkit.datasets.spice_demo import (
    SYNTHETIC_ATTR,
    demo_writes_to_temp,
    is_demo_name,
    write_demo_spice,
)
from trainkit.errors import ConfigError, DataError

SMALL = dict(n_molecules=4, conformations_per_molecule=2)


def test_the_demo_file_is_marked_synthetic(tmp_path):
    path = write_demo_spice(str(tmp_path / 'spice-demo.hdf5'), **SMALL)
    with h5py.File(path, 'r') as f:
        assert 'not SPICE data' in f.attrs[SYNTHETIC_ATTR]


def test_a_real_data_name_is_never_filled_with_demo_data(tmp_path):
    path = tmp_path / 'SPICE-2.0.1.hdf5'
    with pytest.raises(DataError, match="only to a file whose name contains 'demo'") as info:
        SpiceDataset(path, demo_if_missing=SMALL)
    assert f'e.g. {tmp_path}/spice-demo.hdf5' in str(info.value)
    assert os.listdir(tmp_path) == []
    assert is_demo_name('data/Spice_DEMO.h5') and not is_demo_name('demo/spice.hdf5')


def test_reading_a_marked_file_warns_loudly_and_refuses_without_demo_if_missing(tmp_path,
                                                                               capsys):
    path = write_demo_spice(str(tmp_path / 'copied.hdf5'), **SMALL)  # renamed by a user
    with pytest.raises(DataError, match="SYNTHETIC demo file .*demo_if_missing=False asks for "
                                        'real data'):
        SpiceDataset(path, split='all')
    data = SpiceDataset(path, split='all', demo_if_missing=True)
    assert len(data) == 8
    assert f'WARNING: {path} is SYNTHETIC demo data' in capsys.readouterr().err


def test_a_dry_run_reads_a_temporary_demo_file_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / 'data' / 'spice-demo.hdf5'
    with demo_writes_to_temp() as temp:
        data = SpiceDataset(path, split='all', demo_if_missing=SMALL)
        assert data.path == os.path.join(temp, 'spice-demo.hdf5') and len(data) == 8
    assert not os.path.exists(temp) and not os.path.exists(tmp_path / 'data')
    assert 'This dry run reads a temporary copy and writes nothing' in capsys.readouterr().err


@pytest.mark.parametrize('value, message', [
    ('False', "demo_if_missing: expected True, False or a dict .*got 'False' \\(str\\)"),
    (1, 'got 1 \\(int\\); write demo_if_missing=False'),
    (dict(n_molecule=3), "unknown option 'n_molecule' — did you mean 'n_molecules'"),
])
def test_demo_if_missing_takes_a_bool_or_the_writers_options(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        SpiceDataset(tmp_path / 'spice-demo.hdf5', demo_if_missing=value)
    assert os.listdir(tmp_path) == []
