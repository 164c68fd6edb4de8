"""The network: its settings, the training network, its decoder and scorer, memory sizing.

See docs/architecture.md for what this folder owns and must not know."""
