"""Hugging Face import: small random transformers models of both variants, saved, imported, compared.

transformers is a test-only dependency; the parity is checked layer by layer in eval mode.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ivr.errors import CheckpointError
from ivr.model.importers import import_huggingface

transformers = pytest.importorskip("transformers")

TOL = 1e-4
VARIANTS = {
    # the base/paper layout: GroupNorm on conv layer 0, post-LN transformer, no conv bias
    "group": {"feat_extract_norm": "group", "do_stable_layer_norm": False, "conv_bias": False},
    # the large/XLS-R layout: LayerNorm on every conv layer, pre-LN transformer, conv bias
    "layer": {"feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True},
}


def hf_config(variant: str, **overrides):
    options = {
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "conv_dim": (24, 24, 24),
        "conv_kernel": (10, 3, 3),
        "conv_stride": (5, 2, 2),
        "num_conv_pos_embeddings": 16,  # even, like base's 128: exercises the "same pad" crop
        "num_conv_pos_embedding_groups": 4,
        "num_codevector_groups": 2,
        "num_codevectors_per_group": 8,
        "codevector_dim": 16,
        "proj_codevector_dim": 12,
        **VARIANTS[variant],
        **overrides,
    }
    return transformers.Wav2Vec2Config(**options)


def build_hf(variant: str, *, pretraining: bool = True, seed: int = 0, **overrides):
    """A random transformers model whose every parameter is perturbed, so no two norms look alike."""
    torch.manual_seed(seed)
    cls = transformers.Wav2Vec2ForPreTraining if pretraining else transformers.Wav2Vec2Model
    model = cls(hf_config(variant, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def base_of(model):
    return model.wav2vec2 if hasattr(model, "wav2vec2") else model


def random_wave(batch: int, samples: int, seed: int = 1) -> torch.Tensor:
    return 0.1 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


def our_layer_outputs(encoder, wave, lengths):
    """(output of every transformer layer, EncoderOutput): hooks, so nothing in the model changes."""
    outputs = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out: outputs.append(out[0]))
        for layer in encoder.context.layers
    ]
    try:
        with torch.no_grad():
            result = encoder(wave, lengths)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs, result


def hf_outputs(model, wave, attention_mask=None):
    with torch.no_grad():
        return base_of(model)(wave, attention_mask=attention_mask, output_hidden_states=True)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_layer_by_layer_parity(tmp_path: Path, variant: str):
    hf = build_hf(variant)
    hf.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()

    imported = import_huggingface(tmp_path, normalize_waveform=False)

    dims = imported.dims
    assert dims.extractor_mode == {"group": "group_norm", "layer": "layer_norm"}[variant]
    assert dims.layer_norm_first is (variant == "layer")
    assert dims.conv_bias is (variant == "layer")
    assert (dims.attention, dims.final_dim, dims.sample_rate_hz) == ("full", 12, 16_000)
    assert imported.absent == ()
    assert not imported.encoder.training

    wave = random_wave(2, 4000)
    ours, out = our_layer_outputs(imported.encoder, wave, torch.tensor([4000, 4000]))
    theirs = hf_outputs(hf, wave)
    # transformers' hidden_states: the input of layer 0, then the output of every layer
    assert len(ours) == len(theirs.hidden_states) - 1 == 3
    assert max_diff(out.hidden_states[0], theirs.hidden_states[0]) <= TOL
    for layer, (a, b) in enumerate(zip(ours, theirs.hidden_states[1:], strict=True)):
        assert max_diff(a, b) <= TOL, f"layer {layer}"
    assert max_diff(out.features, theirs.extract_features) <= TOL  # layer-normed conv features
    assert max_diff(out.frames, theirs.last_hidden_state) <= TOL
    # a real difference is visible at this scale: the outputs are not trivially equal
    assert float(theirs.last_hidden_state.abs().mean()) > 0.1


def test_parity_fails_when_one_weight_is_off(tmp_path: Path):
    """Negative control: the comparison above can fail."""
    hf = build_hf("layer")
    hf.save_pretrained(tmp_path)
    imported = import_huggingface(tmp_path, normalize_waveform=False)
    with torch.no_grad():
        imported.encoder.context.layers[1].final_layer_norm.bias.add_(0.01)
    wave = random_wave(1, 4000)
    _, out = our_layer_outputs(imported.encoder, wave, torch.tensor([4000]))
    assert max_diff(out.frames, hf_outputs(hf, wave).last_hidden_state) > 10 * TOL


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_padded_batch(tmp_path: Path, variant: str):
    hf = build_hf(variant, seed=2)
    hf.save_pretrained(tmp_path)
    encoder = import_huggingface(tmp_path, normalize_waveform=False).encoder
    lengths = torch.tensor([4000, 2600])
    wave = random_wave(2, 4000, seed=3)
    wave[1, 2600:] = 0.0
    _, out = our_layer_outputs(encoder, wave, lengths)
    frames = out.frame_lengths.tolist()

    # Each utterance alone through transformers is the reference for both variants (our group norm
    # keeps padding out of its statistics).
    for b, length in enumerate(lengths.tolist()):
        alone = hf_outputs(hf, wave[b : b + 1, :length]).last_hidden_state[0]
        assert max_diff(out.frames[b, : frames[b]], alone) <= TOL
    assert float(out.frames[1, frames[1] :].abs().max()) == 0.0

    # transformers' own padded batch with an attention mask agrees for the layer-norm variant; its
    # group norm takes statistics over the padding, so there the padded batch differs (by design
    # the base models are run without padding masks).
    mask = (torch.arange(4000)[None, :] < lengths[:, None]).long()
    padded = hf_outputs(hf, wave, attention_mask=mask).last_hidden_state
    diff = max_diff(out.frames[1, : frames[1]], padded[1, : frames[1]])
    if variant == "layer":
        assert diff <= TOL
        assert max_diff(out.frames[0], padded[0]) <= TOL
    else:
        assert diff > TOL


def test_quantizer_and_projections(tmp_path: Path):
    hf = build_hf("group", seed=4)
    hf.save_pretrained(tmp_path)
    encoder = import_huggingface(tmp_path, normalize_waveform=False).encoder
    wave = random_wave(1, 4000, seed=5)
    out = encoder(wave, torch.tensor([4000]))
    with torch.no_grad():
        theirs = hf_outputs(hf, wave)
        hf_codes, _ = hf.quantizer(theirs.extract_features)
        valid = torch.ones(out.features.shape[:2], dtype=torch.bool)
        ours = encoder.quantizer(out.features, valid, temperature=2.0).codevectors
        assert max_diff(ours, hf_codes) <= TOL
        assert max_diff(encoder.project_q(ours), hf.project_q(hf_codes)) <= TOL
        assert max_diff(encoder.final_proj(out.frames), hf.project_hid(theirs.last_hidden_state)) <= TOL


def test_pytorch_model_bin_with_legacy_weight_norm_names(tmp_path: Path):
    """Older exports: pytorch_model.bin of a bare Wav2Vec2Model, positional conv as weight_g/weight_v."""
    hf = build_hf("group", pretraining=False, seed=6)
    state = {}
    for key, tensor in hf.state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        state[key] = tensor.clone()
    assert "encoder.pos_conv_embed.conv.weight_g" in state
    torch.save(state, tmp_path / "pytorch_model.bin")
    hf.config.to_json_file(tmp_path / "config.json")

    imported = import_huggingface(tmp_path, normalize_waveform=False)

    assert imported.absent == ("pretraining heads",)
    wave = random_wave(2, 3000, seed=7)
    _, out = our_layer_outputs(imported.encoder, wave, torch.tensor([3000, 3000]))
    assert max_diff(out.frames, hf_outputs(hf, wave).last_hidden_state) <= TOL


def test_waveform_normalisation_follows_the_preprocessor(tmp_path: Path):
    hf = build_hf("layer", seed=8)
    hf.save_pretrained(tmp_path)
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=16_000)
    extractor.save_pretrained(tmp_path)

    imported = import_huggingface(tmp_path)

    assert imported.dims.normalize_waveform is True
    wave = 0.3 * random_wave(1, 4000, seed=9) + 0.05  # an offset and a scale the norm removes
    features = extractor(wave[0].numpy(), sampling_rate=16_000, return_tensors="pt")
    out = imported.encoder(wave, torch.tensor([4000]))
    reference = hf_outputs(hf, features["input_values"]).last_hidden_state
    assert max_diff(out.frames.detach(), reference) <= TOL


def _saved(tmp_path: Path, variant: str = "group") -> Path:
    build_hf(variant, seed=10).save_pretrained(tmp_path)
    return tmp_path


def test_unmapped_key_is_refused_unless_dropped_on_purpose(tmp_path: Path):
    directory = _saved(tmp_path)
    tensors = load_file(directory / "model.safetensors")
    tensors["lm_head.weight"] = torch.zeros(5, 32)
    save_file(tensors, directory / "model.safetensors")

    with pytest.raises(CheckpointError, match=r"lm_head\.weight") as caught:
        import_huggingface(directory, normalize_waveform=False)
    assert "model.safetensors" in str(caught.value)
    imported = import_huggingface(directory, normalize_waveform=False, ignore_prefixes=("lm_head.",))
    assert imported.absent == ()


def test_missing_key_is_named(tmp_path: Path):
    directory = _saved(tmp_path)
    tensors = load_file(directory / "model.safetensors")
    del tensors["wav2vec2.encoder.layers.1.final_layer_norm.bias"]
    save_file(tensors, directory / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"layers\.1\.final_layer_norm\.bias"):
        import_huggingface(directory)


def test_config_weight_shape_mismatch_names_the_file(tmp_path: Path):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config["intermediate_size"] = 48
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*intermediate_dense"):
        import_huggingface(directory)


def test_truncated_weights_name_the_file(tmp_path: Path):
    directory = _saved(tmp_path)
    path = directory / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        import_huggingface(directory)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "config.json").unlink(), r"config\.json: missing"),
        (lambda d: (d / "config.json").write_text("{not json"), r"config\.json: not valid JSON"),
        (lambda d: (d / "model.safetensors").unlink(), r"no model\.safetensors"),
    ],
)
def test_missing_or_corrupt_files(tmp_path: Path, damage, message):
    directory = _saved(tmp_path)
    damage(directory)
    with pytest.raises(CheckpointError, match=message):
        import_huggingface(directory)


def test_missing_directory(tmp_path: Path):
    with pytest.raises(CheckpointError, match="nowhere"):
        import_huggingface(tmp_path / "nowhere")


def test_unsupported_options_are_refused(tmp_path: Path):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config |= {"hidden_act": "relu", "add_adapter": True}
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"hidden_act 'relu'.*add_adapter"):
        import_huggingface(directory)


def test_convert_to_our_checkpoint_and_build_an_intent_model(tmp_path: Path, capsys):
    from ivr.model import IntentHead, IntentModel, load_checkpoint
    from ivr.model.importers.__main__ import main

    hf = build_hf("layer", seed=12)
    hf.save_pretrained(tmp_path / "hf")
    out = tmp_path / "imported.safetensors"

    assert main([str(tmp_path / "hf"), str(out)]) == 0
    assert "3 layers x 32" in capsys.readouterr().out
    loaded = load_checkpoint(out)
    assert loaded.extra["absent"] == []
    # our checkpoint keeps the importer's dims; normalize_waveform defaulted to the feature extractor's True
    assert loaded.dims.normalize_waveform is True

    model = IntentModel(loaded.model, IntentHead(loaded.dims.embed_dim, ["billing", "agent"])).eval()
    wave = random_wave(2, 4000, seed=13)
    logits = model(wave, torch.tensor([4000, 3000])).intent_logits
    assert logits.shape == (2, 2)
    assert bool(torch.isfinite(logits).all())

    assert main([str(tmp_path / "missing"), str(tmp_path / "x.safetensors")]) == 1
    assert "missing" in capsys.readouterr().err


def test_config_without_a_required_field(tmp_path: Path):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    del config["hidden_size"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config\.json: missing field 'hidden_size'"):
        import_huggingface(directory)


def test_sharded_safetensors(tmp_path: Path):
    """Large exports come as model-0000N-of-0000M.safetensors shards plus an index."""
    hf = build_hf("layer", seed=14)
    hf.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").unlink()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, tmp_path / shard)
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))

    imported = import_huggingface(tmp_path, normalize_waveform=False)

    wave = random_wave(1, 4000, seed=15)
    _, out = our_layer_outputs(imported.encoder, wave, torch.tensor([4000]))
    assert max_diff(out.frames, hf_outputs(hf, wave).last_hidden_state) <= TOL

    weight_map[names[0]] = "../elsewhere.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="not a file name in its directory"):
        import_huggingface(tmp_path)
