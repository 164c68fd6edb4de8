"""The Hugging Face Space: the `pushkin-lm demo` page, serving the shipped model.

    python app.py           # locally: http://127.0.0.1:7860
    python app.py --help    # the flags of `pushkin-lm demo`: --port, --share, --workers...

Set the PUSHKIN_LM_CHECKPOINT variable (a checkpoint folder or a Hub model owner/name) to serve
another model. A Space sets GRADIO_SERVER_NAME=0.0.0.0 (and may set GRADIO_SERVER_PORT), which
become the --host and --port defaults here; flags on the command line win over them.
"""

import os
import sys


def env_flags() -> list[str]:
    """The variables a Space (or a user) sets, as flags placed before the command line's own."""
    names = {
        "--checkpoint": "PUSHKIN_LM_CHECKPOINT",
        "--host": "GRADIO_SERVER_NAME",
        "--port": "GRADIO_SERVER_PORT",
    }
    return [part for flag, name in names.items() if os.environ.get(name) for part in (flag, os.environ[name])]


if __name__ == "__main__":  # run: the demo command, so that --help prints help and serves nothing
    from pushkin_lm.cli.main import command_main

    sys.exit(command_main("demo", prog="app.py")([*env_flags(), *sys.argv[1:]]))
else:  # imported (`gradio app.py` reloads a module's `demo`)
    from pushkin_lm.demo.server import build_demo

    demo = build_demo(os.environ.get("PUSHKIN_LM_CHECKPOINT") or None)
