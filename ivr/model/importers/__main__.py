"""``python -m ivr.model.importers SRC OUT``: convert a pre-trained checkpoint to our format.

SRC is a Hugging Face ``save_pretrained`` directory or a fairseq ``.pt`` file; OUT is written with
``ivr.model.save_checkpoint`` (safetensors + JSON metadata) as a bare encoder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ivr.errors import IvrError
from ivr.model.checkpoint import save_checkpoint
from ivr.model.importers.fairseq import import_fairseq
from ivr.model.importers.huggingface import import_huggingface


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.model.importers", description=__doc__)
    parser.add_argument("source", type=Path, help="HF checkpoint directory or fairseq .pt file")
    parser.add_argument("output", type=Path, help="our checkpoint to write (.safetensors)")
    args = parser.parse_args(argv)
    try:
        source: Path = args.source
        imported = import_huggingface(source) if source.is_dir() else import_fairseq(source)
        extra = {"imported_from": str(source), "absent": list(imported.absent)}
        save_checkpoint(args.output, imported.encoder, extra=extra)
    except (IvrError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    dims = imported.dims
    print(
        f"{args.output}: {dims.num_layers} layers x {dims.embed_dim}, {dims.extractor_mode}, "
        f"{dims.sample_rate_hz} Hz, normalize_waveform={dims.normalize_waveform}"
        + (f"; absent (random init): {', '.join(imported.absent)}" if imported.absent else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
