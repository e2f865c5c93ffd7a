"""User-facing errors.

A :class:`UserError` is bad input the user can fix (unknown name, wrong type, unwritable path...).
The CLI prints its message on one line and exits with code 2, without a traceback.
"""


class UserError(Exception):
    """An error caused by user input; the message says what is wrong and how to fix it."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
