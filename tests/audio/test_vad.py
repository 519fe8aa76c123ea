import shutil
import subprocess

import numpy as np
import pytest

from ivr.audio.g711 import ulaw_decode, ulaw_encode
from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.vad import VadOptions, VoiceActivityDetector, speech_segments
from ivr.audio.wav import load_audio


@pytest.fixture(scope="module")
def utterance(tmp_path_factory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: `make setup` installs it")
    path = tmp_path_factory.mktemp("vad") / "u.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(path), "I would like to pay my bill please"], check=True
    )
    return load_audio(path)


def _call(utterance: np.ndarray, noise: float, seed: int = 0) -> np.ndarray:
    silence = np.zeros(8000, np.float32)
    x = np.concatenate([silence, utterance, silence, silence, utterance, silence])
    x = x + np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32) * noise
    return pcm16_to_float(ulaw_decode(ulaw_encode(float_to_pcm16(x))))


def test_finds_both_utterances_in_a_g711_call(utterance):
    segments = speech_segments(_call(utterance, noise=0.003))
    assert len(segments) == 2
    duration_ms = len(utterance) / 8
    second_start_ms = 1000 + duration_ms + 2000
    for (start, end), expected_start in zip(segments, (1000, second_start_ms), strict=True):
        assert abs(start - expected_start) <= 300
        assert duration_ms * 0.6 <= end - start <= duration_ms + 500


def test_silence_and_line_noise_are_not_speech():
    rng = np.random.default_rng(1)
    assert speech_segments(np.zeros(40000, np.float32)) == []
    assert speech_segments(rng.standard_normal(40000).astype(np.float32) * 0.003) == []


def test_streaming_chunks_match_whole_signal(utterance):
    x = _call(utterance, noise=0.002)
    vad = VoiceActivityDetector()
    rng = np.random.default_rng(3)
    events, start = [], 0
    while start < len(x):
        size = int(rng.integers(1, 700))
        events += vad.process(x[start : start + size])
        start += size
    events += vad.process(np.zeros(16000, np.float32))
    streamed = list(
        zip([e.at_ms for e in events if e.speech], [e.at_ms for e in events if not e.speech], strict=True)
    )
    assert streamed == speech_segments(x)


def test_rejects_bad_aggressiveness():
    with pytest.raises(ValueError, match=r"0\.\.3"):
        VoiceActivityDetector(VadOptions(aggressiveness=5))
