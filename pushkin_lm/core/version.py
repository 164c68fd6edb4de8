"""The version of pushkin-lm: pyproject.toml reads it from here, and so does everything else."""

VERSION = "0.1.0"
