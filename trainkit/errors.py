"""Errors that trainkit raises on bad user input.

Every error a user can cause by a config, a command line or a file derives from
:class:`TrainkitError`.  ``tools/train.py`` prints such an error without a traceback and
exits with code 2 (``--debug`` shows the traceback).  Anything else is a bug and keeps its
traceback.
"""


class TrainkitError(Exception):
    """Base class of user-facing errors (exit code 2)."""

    exit_code = 2


class ConfigError(TrainkitError, ValueError):
    """A config file, a ``--cfg-options`` entry or a component argument is wrong.

    ``problems`` holds one line per problem so that all of them can be reported at once.
    """

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f'{len(self.problems)} problems in the config:\n' + '\n'.join(
                f'  - {p}' for p in self.problems)
        super().__init__(text)


class DataError(TrainkitError):
    """A data file is missing, empty or lacks what the config asks for."""


class CheckpointError(TrainkitError):
    """A checkpoint is missing, truncated, foreign, unsafe or does not fit the model."""


class TrainingDiverged(TrainkitError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class WorkDirError(TrainkitError):
    """The work directory cannot be created or written."""


# exit status of a pre-empted run (os.EX_TEMPFAIL: a temporary failure, try again later)
EXIT_PREEMPTED = 75


class Preempted(Exception):
    """The run was asked to stop by SIGTERM or SIGUSR1 and saved a checkpoint to continue from
    (``tools/train.py`` exits with :data:`EXIT_PREEMPTED`). Not a TrainkitError: nothing was
    wrong with the input."""

    exit_code = EXIT_PREEMPTED
