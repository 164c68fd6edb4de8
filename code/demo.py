"""`python code/demo.py`: the same as the `pushkin-lm demo` command (a web page that writes verse)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pushkin_lm.cli.main import command_main  # noqa: E402

main = command_main("demo", prog="pushkin-lm demo")

if __name__ == "__main__":
    sys.exit(main())
