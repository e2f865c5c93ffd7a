"""qtbench: experiment orchestration and ablation benchmark suite for quality-conditioned
pseudo-labelling (QualiTeacher, arXiv 2603.08030) in real-world image restoration."""

__version__ = "0.1.0"
