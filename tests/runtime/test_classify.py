from pathlib import Path

import numpy as np
import pytest
import torch

from ivr.audio.band import band_pass
from ivr.audio.warp import VoiceView
from ivr.cli.classify import VIEW_RULE_CHOICES
from ivr.errors import CheckpointError
from ivr.model import build_model
from ivr.model.checkpoint import save_checkpoint
from ivr.runtime.classify import VIEW_RULES, Classifier, combine_views
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


def test_mean_of_views_is_the_renormalized_geometric_mean_read_with_the_as_received_decode():
    probs = torch.tensor([[[0.7, 0.2, 0.1]], [[0.5, 0.4, 0.1]], [[0.2, 0.2, 0.6]]])  # (V=3, B=1, L=3)
    combined, chosen = combine_views(probs, "mean")
    expected = probs.log().mean(0).exp()
    torch.testing.assert_close(combined, expected / expected.sum(-1, keepdim=True))
    assert chosen.tolist() == [0]


def test_min_entropy_takes_each_clips_surest_view():
    probs = torch.tensor(
        [
            [[0.4, 0.3, 0.3], [0.9, 0.05, 0.05]],
            [[0.1, 0.8, 0.1], [0.5, 0.25, 0.25]],
        ]
    )  # (V=2, B=2, L=3): clip 0 is surest in view 1, clip 1 in view 0
    combined, chosen = combine_views(probs, "min_entropy")
    assert chosen.tolist() == [1, 0]
    torch.testing.assert_close(combined, torch.stack([probs[1, 0], probs[0, 1]]))
    with pytest.raises(ValueError, match="view rule"):
        combine_views(probs, "vote")


def _bare_probs(model, clip: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.intent_head.probabilities(
            model(torch.from_numpy(clip)[None], torch.tensor([len(clip)])).intent_logits
        )[0]


def test_the_classifier_hears_each_clip_through_its_views():
    torch.manual_seed(0)
    model = build_model(small_dims(), ("a", "b", "c")).eval()
    clip = band_pass(np.random.default_rng(4).normal(0, 0.1, 6000), 8000).astype(np.float32)
    views = (VoiceView("speed", 0.9), VoiceView("formants", 1.1))
    heard = torch.stack([_bare_probs(model, clip)] + [_bare_probs(model, v.apply(clip)) for v in views])
    for rule in VIEW_RULES:
        result = Classifier(model, views=views, view_rule=rule, band_limit=False).classify(clip)
        combined, _ = combine_views(heard[:, None], rule)
        got = torch.tensor([result.scores[label] for label in model.labels])
        torch.testing.assert_close(got, combined[0], atol=1e-5, rtol=0)
    plain = Classifier(model, band_limit=False).classify(clip).scores
    assert plain != Classifier(model, views=views, band_limit=False).classify(clip).scores
    with pytest.raises(ValueError, match="view_rule"):
        Classifier(model, view_rule="vote")


def test_views_come_from_the_checkpoint_and_a_bad_one_is_a_named_checkpoint_error(tmp_path: Path):
    model = build_model(small_dims(), ("a", "b", "c"))
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, extra={"views": "speed:0.9,formants:1.1", "view_rule": "min_entropy"})
    classifier = Classifier.from_checkpoint(path)
    assert classifier.views == (VoiceView("speed", 0.9), VoiceView("formants", 1.1))
    assert classifier.view_rule == "min_entropy"
    assert Classifier.from_checkpoint(_saved(tmp_path, model, {})).views == ()
    for extra in ({"views": "pitch:2"}, {"views": "speed"}, {"view_rule": "vote"}):
        with pytest.raises(CheckpointError, match="'views' / 'view_rule'"):
            Classifier.from_checkpoint(_saved(tmp_path, model, extra))


def _saved(tmp_path: Path, model, extra: dict[str, object]) -> Path:
    path = tmp_path / "other.safetensors"
    save_checkpoint(path, model, extra=extra)
    return path


def test_the_cli_offers_every_view_rule():
    assert VIEW_RULE_CHOICES == VIEW_RULES
