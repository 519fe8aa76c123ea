"""The exceptions ivr raises on bad input. Each carries a message fit for a one-line CLI error."""


class IvrError(Exception):
    """Base of every error ivr reports to a user instead of crashing."""


class AudioError(IvrError):
    """Audio that cannot be read or decoded: not a WAV, truncated, unsupported encoding."""


class ConfigError(IvrError):
    """A configuration file or option that is missing or malformed."""


class FlowError(IvrError):
    """A flow that cannot be loaded or fails validation."""


class CheckpointError(IvrError):
    """A model checkpoint that is corrupt, truncated or does not match the model it is loaded into."""


class UsageError(IvrError):
    """A command-line value that argparse cannot check by itself (a bad key in a DTMF string, say)."""


def describe(exc: BaseException) -> str:
    """One line for a user: ``path: No such file or directory`` rather than ``[Errno 2] ...``."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__
