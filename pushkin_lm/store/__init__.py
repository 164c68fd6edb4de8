"""Files on disk and on the Hub: the checkpoint format, run folders, downloads.

See docs/architecture.md for what this folder owns and must not know."""
