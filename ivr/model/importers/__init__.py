"""Import pre-trained wav2vec 2.0 checkpoints from local disk into ``ivr.model`` modules.

``import_huggingface(directory)`` reads a ``transformers`` ``save_pretrained`` directory and
``import_fairseq(path)`` a fairseq ``.pt``; both return an ``ImportedEncoder`` (a ``Wav2Vec2Encoder``
in full-attention mode, its ``EncoderDims``, and the optional parts the file lacked). Neither executes
code from the file, and neither downloads anything. ``python -m ivr.model.importers SRC OUT`` converts
to our own checkpoint format. See docs/models.md.
"""

from ivr.model.importers.fairseq import import_fairseq
from ivr.model.importers.huggingface import import_huggingface
from ivr.model.importers.weights import ImportedEncoder

__all__ = ["ImportedEncoder", "import_fairseq", "import_huggingface"]
