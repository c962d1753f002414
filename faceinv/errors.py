"""The one exception for bad input: every script prints it as a single line."""


class InputError(Exception):
    """Something the user gave (a path, a handle, a number, a file) cannot be used."""


class TrainingDiverged(Exception):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
