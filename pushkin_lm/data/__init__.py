"""Text read into ids: the corpus, its splits, mixtures of sources, training windows.

See docs/architecture.md for what this folder owns and must not know."""
