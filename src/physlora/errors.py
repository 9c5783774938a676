"""One exception type for every problem a user can fix.

The CLI prints its message as one line and exits with code 2; anything else is a bug
and keeps its traceback.
"""


class PhysloraError(Exception):
    """A user-facing error: the message says what is wrong and what to do about it."""


class TrainingInterrupted(PhysloraError):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint; the run can be resumed."""
