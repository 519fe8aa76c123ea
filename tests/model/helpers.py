"""Small dims for tests whose property does not depend on size (the presets are tested separately)."""

import dataclasses

import torch

from ivr.model.dims import EncoderDims


def small_dims(**overrides) -> EncoderDims:
    """8 kHz-like block-causal encoder: stride 40 samples, receptive field 60, chunks of 4 frames."""
    dims = EncoderDims(
        conv_layers=((32, 10, 5), (32, 3, 2), (32, 3, 2), (32, 2, 2)),
        extractor_mode="layer_norm",
        conv_bias=True,
        embed_dim=32,
        num_layers=2,
        num_heads=4,
        ffn_dim=64,
        layer_norm_first=True,
        pos_conv_kernel=5,
        pos_conv_groups=4,
        num_codebooks=2,
        codebook_size=16,
        codevector_dim=16,
        final_dim=16,
        attention="block_causal",
        chunk_frames=4,
        left_chunks=2,
        sample_rate_hz=8000,
    )
    return dataclasses.replace(dims, **overrides)


def full_attention_base_like(**overrides) -> EncoderDims:
    """The base variant's structure (group norm, post-LN, full attention, normalisation), small."""
    return small_dims(
        extractor_mode="group_norm",
        conv_bias=False,
        layer_norm_first=False,
        attention="full",
        pos_conv_kernel=6,
        normalize_waveform=True,
        **overrides,
    )


def random_wave(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, samples, generator=generator)
