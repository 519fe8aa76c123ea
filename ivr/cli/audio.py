"""``ivr audio``: inspect and convert WAV files, find DTMF keys, generate key presses."""

from __future__ import annotations

import argparse
import json

from ivr.errors import UsageError

# Kept here rather than imported from ivr.audio, which loads scipy: `ivr --help` should not pay for it.
ENCODINGS = ("pcm16", "ulaw", "alaw")
DIGITS = "123A456B789C*0#D"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audio", help="inspect and convert WAV files, detect and generate DTMF")
    commands = parser.add_subparsers(dest="audio_command", metavar="ACTION", required=True)

    info = commands.add_parser("info", help="format, rate, channels and duration of WAV files")
    info.add_argument("files", nargs="+", metavar="FILE.wav")
    info.add_argument("--json", action="store_true", help="one JSON object per line")
    info.set_defaults(func=run_info)

    convert = commands.add_parser("convert", help="convert a WAV to another encoding and rate")
    convert.add_argument("source", metavar="IN.wav")
    convert.add_argument("target", metavar="OUT.wav")
    convert.add_argument("--encoding", choices=ENCODINGS, default="pcm16")
    convert.add_argument(
        "--rate", type=int, default=8000, metavar="HZ", help="output sample rate (default 8000)"
    )
    convert.add_argument("--channel", type=int, default=None, help="channel to keep (default: mix down)")
    convert.set_defaults(func=run_convert)

    dtmf = commands.add_parser("dtmf", help="detect in-band DTMF key presses in WAV files")
    dtmf.add_argument("files", nargs="+", metavar="FILE.wav")
    dtmf.add_argument("--channel", type=int, default=None)
    dtmf.set_defaults(func=run_dtmf)

    tones = commands.add_parser("tones", help="write key presses as in-band DTMF tones")
    tones.add_argument("digits", help=f"keys to press, from {DIGITS}")
    tones.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    tones.add_argument("--tone-ms", type=float, default=80)
    tones.add_argument("--gap-ms", type=float, default=80)
    tones.add_argument("--level-dbm0", type=float, default=-10)
    tones.add_argument("--encoding", choices=ENCODINGS, default="pcm16")
    tones.set_defaults(func=run_tones)


def run_info(args: argparse.Namespace) -> int:
    import numpy as np

    from ivr.audio.wav import read_wav

    for path in args.files:
        audio = read_wav(path)
        fields = {
            "path": path,
            "encoding": audio.encoding,
            "sample_rate_hz": audio.sample_rate_hz,
            "channels": audio.channels,
            "duration_s": round(audio.duration_s, 3),
            "peak": round(float(np.abs(audio.samples).max(initial=0.0)), 4),
        }
        print(json.dumps(fields) if args.json else "  ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ivr.audio.resample import resample
    from ivr.audio.wav import load_audio, read_wav, write_wav

    audio = read_wav(args.source)
    samples = (
        audio.samples.mean(axis=1)
        if args.channel is None
        else load_audio(args.source, audio.sample_rate_hz, args.channel)
    )
    write_wav(args.target, resample(samples, audio.sample_rate_hz, args.rate), args.rate, args.encoding)
    return 0


def run_dtmf(args: argparse.Namespace) -> int:
    from ivr.audio.dtmf import detect_dtmf
    from ivr.audio.wav import load_audio

    for path in args.files:
        print(f"{path}\t{detect_dtmf(load_audio(path, 8000, args.channel))}")
    return 0


def run_tones(args: argparse.Namespace) -> int:
    from ivr.audio.dtmf import dtmf_tones
    from ivr.audio.wav import write_wav

    unknown = sorted({d for d in args.digits.upper() if d not in DIGITS})
    if unknown:
        raise UsageError(f"not DTMF keys: {''.join(unknown)}")
    write_wav(
        args.output, dtmf_tones(args.digits, args.tone_ms, args.gap_ms, args.level_dbm0), 8000, args.encoding
    )
    return 0
