"""The one base class of errors caused by what a user gave: a config, data, a run folder, a checkpoint.

The command-line tools catch ``UserInputError`` and print its one-line message
(exit code 2); any other exception is a bug and keeps its traceback. Raise a
subclass with the cause chained (``raise DatasetError(...) from err``) so that
``--debug`` shows where it came from.
"""


class UserInputError(ValueError):
    """A value the user gave cannot be used; the message names it and what is allowed."""


class CheckpointError(UserInputError):
    """A checkpoint or exported encoder cannot be read, or does not fit the model or the run."""
