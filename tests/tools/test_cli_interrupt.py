"""Ctrl-C in a tool: exit code 130 and what to do next; ``--debug`` shows the traceback."""
import pytest

from trainkit.cli import report_interrupt


def test_interrupt_exits_130_saying_what_was_kept(capsys):
    assert report_interrupt(KeyboardInterrupt(), False, 'continue with --resume') == 130
    assert capsys.readouterr().err == 'interrupted: continue with --resume\n'
    assert report_interrupt(KeyboardInterrupt(), False) == 130
    assert capsys.readouterr().err == 'interrupted\n'


def test_interrupt_with_debug_is_raised_again():
    with pytest.raises(KeyboardInterrupt):
        report_interrupt(KeyboardInterrupt(), True, 'continue with --resume')
