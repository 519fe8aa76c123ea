import numpy as np
import torch

from ivr.audio.band import band_pass
from ivr.model import build_model
from ivr.runtime.classify import Classifier
from tests.model.helpers import small_dims


def test_the_classifier_hears_the_telephone_band_only():
    """Mains hum and a low voice's pitch lie below the 300 Hz the training channel passes: the decision
    must not move with them, though the bare model's does."""
    torch.manual_seed(0)
    model = build_model(small_dims(), ("a", "b", "c")).eval()
    classifier = Classifier(model)
    rng = np.random.default_rng(1)
    clip = rng.normal(0, 0.1, 6000).astype(np.float32)
    hum = (0.3 * np.sin(2 * np.pi * 60 * np.arange(6000) / 8000)).astype(np.float32)
    plain, hummed = classifier.classify(clip), classifier.classify(clip + hum)
    moved = max(abs(hummed.scores[label] - p) for label, p in plain.scores.items())
    rate = model.dims.sample_rate_hz
    assert rate == 8000  # the bare model below reads the clips as they are
    with torch.no_grad():
        bare = [
            model.intent_head.probabilities(
                model(torch.from_numpy(x)[None], torch.tensor([6000])).intent_logits
            )
            for x in (clip, clip + hum)
        ]
    bare_moved = float((bare[0] - bare[1]).abs().max())
    assert moved < bare_moved / 20, (moved, bare_moved)


def test_audio_that_crossed_a_phone_line_reaches_the_model_as_it_is():
    torch.manual_seed(0)
    model = build_model(small_dims(), ("a", "b", "c")).eval()
    phone = band_pass(np.random.default_rng(2).normal(0, 0.1, 6000), 8000)
    result = Classifier(model).classify(phone)
    with torch.no_grad():
        bare = model.intent_head.probabilities(
            model(torch.from_numpy(phone)[None], torch.tensor([6000])).intent_logits
        )
    torch.testing.assert_close(torch.tensor([list(result.scores.values())]), bare, atol=1e-6, rtol=0)


def test_without_band_limiting_full_band_audio_reaches_the_model_as_it_is():
    torch.manual_seed(0)
    model = build_model(small_dims(), ("a", "b", "c")).eval()
    full_band = np.random.default_rng(3).normal(0, 0.1, 6000).astype(np.float32)
    limited = Classifier(model).classify(full_band)
    unlimited = Classifier(model, band_limit=False).classify(full_band)
    with torch.no_grad():
        bare = model.intent_head.probabilities(
            model(torch.from_numpy(full_band)[None], torch.tensor([6000])).intent_logits
        )
    torch.testing.assert_close(torch.tensor([list(unlimited.scores.values())]), bare, atol=1e-6, rtol=0)
    assert limited.scores != unlimited.scores
