"""The training recipe: phrase bank, synthesis, telephony channel, datasets, two-stage training."""
