"""The command line: one small file per command, the command table in main.py.

See docs/architecture.md for what this folder owns and must not know."""
