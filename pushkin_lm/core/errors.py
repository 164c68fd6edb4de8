"""The one exception type users see.

Library code raises `PushkinLMError` with a message that names the problem and the fix;
only the command-line layer turns it into one line on stderr and exit status 2.
"""


class PushkinLMError(Exception):
    """A problem with the user's input (files, flags, checkpoints) rather than a bug."""


class TrainingInterrupted(PushkinLMError):
    """Training stopped on a signal after saving `last`; the message says how to resume."""
