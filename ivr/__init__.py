"""ivr: a telephony IVR intent-routing engine.

8 kHz call audio -> streaming wav2vec 2.0 encoder -> intent head -> YAML flow engine -> call actions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ivr")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
