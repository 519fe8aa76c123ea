"""Which precision a run trains in: explicit settings obeyed, ``auto`` measured, a resumed run unchanged."""

import pytest
import torch

from ivr.model.encoder import Wav2Vec2Encoder
from tests.model.helpers import small_dims
from training import precision as precision_module
from training.precision import BF16_MARGIN, probe_step_seconds, run_precision

CPU = torch.device("cpu")


@pytest.fixture
def encoder() -> Wav2Vec2Encoder:
    torch.manual_seed(0)
    return Wav2Vec2Encoder(small_dims())


def test_explicit_precisions_are_obeyed_without_a_probe(encoder, monkeypatch):
    def no_probe(*args, **kwargs):
        raise AssertionError("an explicit precision must not be measured")

    monkeypatch.setattr(precision_module, "probe_step_seconds", no_probe)
    assert run_precision("fp32", CPU, encoder, {}).bf16 is False
    assert run_precision("bf16", CPU, encoder, {}).bf16 is True


def test_a_resumed_auto_run_keeps_the_precision_it_began_with(encoder, monkeypatch):
    monkeypatch.setattr(precision_module, "probe_step_seconds", lambda *a, **k: 1.0)
    for began in (True, False):
        choice = run_precision("auto", CPU, encoder, {"config": {}, "bf16": began})
        assert choice.bf16 is began and "resumed" in choice.reason
        assert run_precision("fp32", CPU, encoder, {"bf16": began}).bf16 is False  # explicit: obeyed
        assert run_precision("bf16", CPU, encoder, {"bf16": began}).bf16 is True


@pytest.mark.parametrize(
    ("bf16_share", "expected"), [(0.5, True), (BF16_MARGIN, True), (0.95, False), (1.3, False)]
)
def test_auto_takes_bf16_only_where_it_is_clearly_faster(encoder, monkeypatch, bf16_share, expected):
    """The 2-core AMD EPYC VM: bf16 0.65x the float32 step; the 2-core Intel Xeon VM: 1.18x."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(
        precision_module, "probe_step_seconds", lambda enc, *, bf16: bf16_share if bf16 else 1.0
    )
    choice = run_precision("auto", CPU, encoder, {})
    assert choice.bf16 is expected
    assert "1000 ms float32" in choice.reason and "bf16" in choice.describe()


def test_auto_is_float32_where_the_cpu_has_no_bf16_kernels(encoder, monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    choice = run_precision("auto", CPU, encoder, {})
    assert choice.bf16 is False and "no bf16" in choice.reason


def test_the_probe_leaves_the_run_as_it_was(encoder):
    """Random numbers, gradients, weights and the train/eval mode are those of before the probe."""
    encoder.eval()
    rng = torch.get_rng_state()
    weights = {k: v.clone() for k, v in encoder.state_dict().items()}
    for bf16 in (False, True):
        assert probe_step_seconds(encoder, bf16=bf16) > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in encoder.parameters())
    assert all(torch.equal(v, weights[k]) for k, v in encoder.state_dict().items())
    assert not encoder.training
