"""wav2vec 2.0 (Baevski et al., 2020) for 8 kHz telephony: encoder, objectives, heads, streaming, checkpoints.

Data path: wave (B, T) + lengths (B,) -> ``FeatureEncoder`` (conv stack, one frame per ``dims.stride``
samples) -> ``FeatureProjection`` -> optional span masking -> ``TransformerEncoder`` (positional conv +
layers) -> frames (B, F, D) -> ``IntentHead`` / ``CTCHead``. ``tiny_8k()`` is block-causal and streams
exactly through ``streaming.infer``; ``base()`` is the paper's 16 kHz model with full attention.

Notes for code built against the contract:
- ``init_state(dims, batch)`` takes the dims (the state's shapes depend on them).
- ``build_model(dims, labels, ctc_vocab_size=None, *, head=HeadDims())``: pooling and MLP width in ``HeadDims``.
- Parameter names: the feature encoder's norm is ``feature_encoder.conv_layers.N.norm`` (a GroupNorm on
  layer 0 only, or a LayerNorm on every layer); the positional conv is weight-normed over dim 2 through
  ``torch.nn.utils.parametrizations``, so its g / v are
  ``context.pos_conv.conv.parametrizations.weight.original0`` / ``original1``.
- ``Wav2Vec2Encoder.forward`` applies ``dims.normalize_waveform`` itself (masked to valid samples), and its
  group norm ignores padding, so a padded utterance gives the frames it gives alone in both variants.
- ``EncoderOutput.hidden_states`` holds the input of layer 0, then each layer's output, as transformers'
  do; for pre-LN models ``frames`` is the last of them after the closing LayerNorm.
- ``streaming.infer`` emits frames in whole chunks (``chunk_frames``); ``final=True`` flushes the last
  partial chunk. States stack and split with ``stack_states`` / ``split_states`` / ``select_state``.
- Checkpoints hold an ``IntentModel`` or a bare ``Wav2Vec2Encoder`` (pretraining).
- The CTC decode a phoneme intent head reads is greedy, or a beam search (``ctc_decode.CTCBeamSearch``)
  when the model carries a ``phoneme_lm.PhonemeLM``; ``ctc_decode.decoder_for`` picks the one a model uses.
"""

from ivr.model.checkpoint import FORMAT_VERSION, LoadedCheckpoint, load_checkpoint, save_checkpoint
from ivr.model.context import ContextCache, TransformerEncoder, attention_mask
from ivr.model.dims import EncoderDims, HeadDims, base, tiny_8k
from ivr.model.encoder import EncoderOutput, Wav2Vec2Encoder
from ivr.model.features import FeatureEncoder, FeatureProjection
from ivr.model.heads import CTCHead, IntentHead, PoolState
from ivr.model.masking import SpanMasking, span_mask
from ivr.model.model import IntentModel, ModelOutput, build_model
from ivr.model.pretrain import PretrainLosses, gumbel_temperature, pretraining_loss
from ivr.model.quantizer import GumbelVectorQuantizer
from ivr.model.streaming import (
    EncoderState,
    IntentStream,
    IntentStreamState,
    infer,
    init_state,
    select_state,
    split_states,
    stack_states,
)

__all__ = [
    "FORMAT_VERSION",
    "CTCHead",
    "ContextCache",
    "EncoderDims",
    "EncoderOutput",
    "EncoderState",
    "FeatureEncoder",
    "FeatureProjection",
    "GumbelVectorQuantizer",
    "HeadDims",
    "IntentHead",
    "IntentModel",
    "IntentStream",
    "IntentStreamState",
    "LoadedCheckpoint",
    "ModelOutput",
    "PoolState",
    "PretrainLosses",
    "SpanMasking",
    "TransformerEncoder",
    "Wav2Vec2Encoder",
    "attention_mask",
    "base",
    "build_model",
    "gumbel_temperature",
    "infer",
    "init_state",
    "load_checkpoint",
    "pretraining_loss",
    "save_checkpoint",
    "select_state",
    "span_mask",
    "split_states",
    "stack_states",
    "tiny_8k",
]
