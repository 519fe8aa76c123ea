"""The shape of a wav2vec 2.0 encoder and its heads: every module is built from these, and checkpoints store them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

ConvLayer = tuple[int, int, int]  # (out channels, kernel, stride)

EXTRACTOR_MODES = ("group_norm", "layer_norm")
ATTENTION_KINDS = ("full", "block_causal")
POOLING_KINDS = ("attention", "mean")


def reject_unknown_fields(cls: type, data: dict[str, Any]) -> None:
    """Metadata from a checkpoint names only fields ``cls`` has: a typo must not pass as a default."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class EncoderDims:
    """Hyper-parameters of the encoder, named after the paper (Baevski et al., 2020)."""

    conv_layers: tuple[ConvLayer, ...]  # feature encoder: one (channels, kernel, stride) per layer
    extractor_mode: str  # "group_norm": GroupNorm on layer 0 only (base); "layer_norm": LayerNorm everywhere
    conv_bias: bool  # conv layers carry a bias (the layer-norm/large variant does)
    embed_dim: int  # D, width of the transformer
    num_layers: int
    num_heads: int
    ffn_dim: int
    layer_norm_first: bool  # pre-LN layers + LayerNorm after the stack; False: post-LN, LayerNorm before it
    pos_conv_kernel: int  # frames seen by the convolutional positional embedding
    pos_conv_groups: int
    num_codebooks: int  # G
    codebook_size: int  # V entries per codebook
    codevector_dim: int  # width of a concatenated quantized vector (G entries of codevector_dim / G)
    final_dim: int  # contrastive space shared by final_proj (context) and project_q (targets)
    dropout: float = 0.1  # transformer residual branches
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0  # inside the feed-forward block
    feature_dropout: float = 0.1  # projected features, before masking (fairseq dropout_input)
    quantizer_dropout: float = 0.1  # conv features fed to the quantizer (fairseq dropout_features)
    layer_drop: float = 0.0  # probability of skipping a whole layer in training (LayerDrop)
    mask_prob: float = 0.65  # fraction of frames chosen as span starts, times the span length
    mask_length: int = 10  # frames per masked span
    attention: str = "full"  # "full" or "block_causal" (chunks of chunk_frames, left_chunks of past)
    chunk_frames: int = 16  # 16 frames x 20 ms = 320 ms per streaming step
    left_chunks: int = 4  # past chunks each chunk may attend to: 4 x 320 ms = 1.28 s per layer
    sample_rate_hz: int = 16_000
    normalize_waveform: bool = False  # zero mean, unit variance per utterance (needs the whole utterance)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid EncoderDims: " + "; ".join(problems))

    @property
    def stride(self) -> int:
        """Samples per frame: the product of the conv strides."""
        return math.prod(s for _, _, s in self.conv_layers)

    @property
    def receptive_field(self) -> int:
        """Samples one frame depends on; the shortest input that gives a frame."""
        field, jump = 1, 1
        for _, kernel, stride in self.conv_layers:
            field += (kernel - 1) * jump
            jump *= stride
        return field

    @property
    def conv_dim(self) -> int:
        """C, channels of the last conv layer (input of the projection and the quantizer)."""
        return self.conv_layers[-1][0]

    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.stride / self.sample_rate_hz

    @property
    def streamable(self) -> bool:
        """Whether ``streaming.infer`` reproduces ``forward`` exactly (no whole-utterance statistics)."""
        return (
            self.extractor_mode == "layer_norm"
            and self.attention == "block_causal"
            and not self.normalize_waveform
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["conv_layers"] = [list(layer) for layer in self.conv_layers]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderDims:
        reject_unknown_fields(cls, data)
        values = dict(data)
        values["conv_layers"] = tuple(tuple(int(v) for v in layer) for layer in data["conv_layers"])
        return cls(**values)


def _problems(d: EncoderDims) -> list[str]:
    """All that is wrong with a dims object, so one error lists everything."""
    problems = []
    if not d.conv_layers or any(len(layer) != 3 or min(layer) < 1 for layer in d.conv_layers):
        problems.append(
            f"conv_layers must be positive (channels, kernel, stride) triples, got {d.conv_layers}"
        )
    if d.extractor_mode not in EXTRACTOR_MODES:
        problems.append(f"extractor_mode must be one of {EXTRACTOR_MODES}, got {d.extractor_mode!r}")
    if d.attention not in ATTENTION_KINDS:
        problems.append(f"attention must be one of {ATTENTION_KINDS}, got {d.attention!r}")
    if d.num_heads < 1 or d.embed_dim % d.num_heads:
        problems.append(f"embed_dim {d.embed_dim} must divide into num_heads {d.num_heads}")
    if d.pos_conv_groups < 1 or d.embed_dim % d.pos_conv_groups:
        problems.append(f"embed_dim {d.embed_dim} must divide into pos_conv_groups {d.pos_conv_groups}")
    if d.num_codebooks < 1 or d.codevector_dim % d.num_codebooks:
        problems.append(f"codevector_dim {d.codevector_dim} must divide into num_codebooks {d.num_codebooks}")
    if d.pos_conv_kernel < 1 or d.chunk_frames < 1 or d.left_chunks < 0 or d.mask_length < 1:
        problems.append("pos_conv_kernel, chunk_frames and mask_length must be >= 1, left_chunks >= 0")
    if not 0.0 <= d.mask_prob <= 1.0:
        problems.append(f"mask_prob must be in [0, 1], got {d.mask_prob}")
    return problems


@dataclass(frozen=True, slots=True)
class HeadDims:
    """Task heads on top of the encoder frames."""

    pooling: str = "attention"  # "attention" (learned frame weights) or "mean" over valid frames
    hidden_dim: int = 256  # width of the intent MLP
    dropout: float = 0.1
    ctc_vocab_size: int | None = None  # phoneme/character CTC head (blank included) when set

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_KINDS:
            raise ValueError(
                f"invalid HeadDims: pooling must be one of {POOLING_KINDS}, got {self.pooling!r}"
            )
        if self.hidden_dim < 1 or (self.ctc_vocab_size is not None and self.ctc_vocab_size < 2):
            raise ValueError("invalid HeadDims: hidden_dim must be >= 1 and ctc_vocab_size >= 2")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadDims:
        reject_unknown_fields(cls, data)
        return cls(**data)


def tiny_8k() -> EncoderDims:
    """The model we train and ship: native 8 kHz, 20 ms frames, streams exactly (block-causal, no global norms)."""
    return EncoderDims(
        # strides 5*2*2*2*2*2 = 160 samples = 20 ms at 8 kHz; receptive field 200 samples = 25 ms.
        # Channels double while the rate halves, so no layer dominates: ~120 M MACs per second of audio
        # instead of ~300 M with 256 channels throughout (the conv stack is most of the encoder's cost).
        conv_layers=((64, 10, 5), (128, 3, 2), (256, 3, 2), (256, 3, 2), (256, 2, 2), (256, 2, 2)),
        extractor_mode="layer_norm",
        conv_bias=True,
        embed_dim=256,
        num_layers=4,
        num_heads=4,
        ffn_dim=1024,
        layer_norm_first=True,
        pos_conv_kernel=16,  # causal in block-causal mode: the current frame and 15 before it (320 ms)
        pos_conv_groups=16,
        num_codebooks=2,
        codebook_size=160,
        codevector_dim=128,
        final_dim=128,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        feature_dropout=0.1,
        quantizer_dropout=0.1,
        layer_drop=0.0,
        attention="block_causal",
        chunk_frames=16,  # 320 ms
        left_chunks=4,  # 1.28 s of cached keys/values per layer
        sample_rate_hz=8_000,
        normalize_waveform=False,
    )


def base() -> EncoderDims:
    """The paper's BASE model (95 M parameters) at 16 kHz: group-norm extractor, post-LN, full attention."""
    return EncoderDims(
        # strides 5*2^6 = 320 samples = 20 ms at 16 kHz; receptive field 400 samples = 25 ms
        conv_layers=((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2,
        extractor_mode="group_norm",
        conv_bias=False,
        embed_dim=768,
        num_layers=12,
        num_heads=12,
        ffn_dim=3072,
        layer_norm_first=False,
        pos_conv_kernel=128,
        pos_conv_groups=16,
        num_codebooks=2,
        codebook_size=320,
        codevector_dim=256,
        final_dim=256,
        layer_drop=0.05,
        attention="full",
        sample_rate_hz=16_000,
        normalize_waveform=True,
    )
