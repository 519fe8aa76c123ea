"""wav2vec 2.0 (Baevski et al., 2020) for 8 kHz telephony: encoder, objectives, heads, streaming, checkpoints."""

from ivr.model.dims import EncoderDims, HeadDims, base, tiny_8k
from ivr.model.encoder import EncoderOutput, Wav2Vec2Encoder

__all__ = ["EncoderDims", "EncoderOutput", "HeadDims", "Wav2Vec2Encoder", "base", "tiny_8k"]
