"""Training engine: base stage, pseudo-label loop, checkpoints, timers."""
