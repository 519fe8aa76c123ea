"""Telephony audio building blocks: pure numpy/scipy, no asyncio.

The telephone band-pass and resampling (each one-shot and streaming), G.711 codecs, PCM conversion, WAV
I/O, DTMF detection and generation.
"""

from ivr.audio.band import TELEPHONE_BAND_HZ, StreamingBandPass, band_pass, to_telephone_band
from ivr.audio.dtmf import DtmfDetector, DtmfRules, detect_dtmf, dtmf_tone, dtmf_tones
from ivr.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.resample import StreamingResampler, resample
from ivr.audio.vad import VadOptions, VoiceActivityDetector, speech_segments
from ivr.audio.wav import WavAudio, load_audio, read_wav, write_wav

__all__ = [
    "TELEPHONE_BAND_HZ",
    "DtmfDetector",
    "DtmfRules",
    "StreamingBandPass",
    "StreamingResampler",
    "VadOptions",
    "VoiceActivityDetector",
    "WavAudio",
    "alaw_decode",
    "alaw_encode",
    "band_pass",
    "detect_dtmf",
    "dtmf_tone",
    "dtmf_tones",
    "float_to_pcm16",
    "load_audio",
    "pcm16_to_float",
    "read_wav",
    "resample",
    "speech_segments",
    "to_telephone_band",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]
