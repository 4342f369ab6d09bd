"""The one exception type for errors a user can cause (bad file, bad argument).

The CLI turns a `BnnstatError` into a single stderr line and exit code 2; anything else
is a bug and keeps its traceback.
"""


class BnnstatError(Exception):
    """A problem with user input; the message names the file or layer and, if known, the fix."""


class ModelLoadError(BnnstatError, ValueError):
    """A model file that cannot be loaded (`bnnstat.models.load_model`).

    Also a `ValueError`, as Keras' own loading errors are, so code written for
    `keras.models.load_model` catches it unchanged.
    """
