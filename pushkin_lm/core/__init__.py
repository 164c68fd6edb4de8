"""The ground floor: errors, settings, devices, the vocabulary, bounded reads and atomic writes.

See docs/architecture.md for what this folder owns and must not know."""
