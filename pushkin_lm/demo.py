"""`pushkin-lm demo`: a web page (Gradio) that writes verse as you watch, and scans it.

    pushkin-lm demo [--checkpoint DIR|owner/name] [--port 7860] [--share]
    python code/demo.py ...          # the same, from a checkout
    python app.py                    # the same page as a Hugging Face Space

Gradio is an optional dependency (`pip install 'pushkin-lm[demo]'`), imported by `build_demo` alone
(through `demo_page`, the page itself), so the other commands neither need it nor wait for it, and
torch waits for a command's body too. What a request does, and every check of the page's
settings, is in `demo_engine`, which Gradio never enters.
"""

from __future__ import annotations

import argparse
import errno
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .commands import CHECKPOINT_HELP, _positive_int, flag
from .errors import PushkinLMError

if TYPE_CHECKING:
    import gradio as gr

DESCRIPTION = (
    "Serve a web page that writes verse with a model as you watch, stanza forms and scansion "
    "included (Gradio; on 127.0.0.1:7860 unless told otherwise)."
)
WORKERS = 8  # requests written at once, each with its own decoder


def build_demo(
    checkpoint: str | None = None, workers: int = WORKERS, time_limit: float = 60.0, threads: int | None = 1
) -> gr.Blocks:
    """The page for a checkpoint folder or Hub model repo id (default: the shipped model).

    `threads`: torch's threads for the whole process; one per request is fastest when characters
    are written one at a time and requests share the cores (None leaves torch's setting)."""
    import importlib.util

    import torch

    if importlib.util.find_spec("gradio") is None:  # said before the model loads, not after
        raise PushkinLMError(
            "the demo needs Gradio, an optional dependency: pip install 'pushkin-lm[demo]' (or gradio)"
        )
    from .demo_engine import load_engine
    from .demo_scan import warm_up

    if threads:
        torch.set_num_threads(threads)
    engine = load_engine(checkpoint, workers, time_limit=time_limit)
    threading.Thread(target=engine.pool.fill, name="decoders").start()  # not a daemon: see warm_up
    warm_up()
    from .demo_page import page  # imports Gradio (seconds)

    return page(engine, workers)


# ----------------------------------------------------------------------------- the command


def demo_flags(p: argparse.ArgumentParser) -> None:
    flag(p, "checkpoint", help=CHECKPOINT_HELP)
    flag(p, "port", type=_port, default=7860, help="the port to serve on")
    flag(p, "host", default="127.0.0.1", help="the address to serve on (0.0.0.0: every network interface)")
    flag(p, "share", action="store_true", help="also serve through a public gradio.live link")
    flag(p, "workers", type=_positive_int, default=WORKERS, help="requests written at once, a decoder each")
    flag(p, "time_limit", type=float, default=60.0, help="seconds one request may write for")


def demo(args: argparse.Namespace) -> None:
    """Serve the page until interrupted (Ctrl+C)."""
    if not args.time_limit > 0:
        raise PushkinLMError(f"--time_limit must be above 0 seconds, got {args.time_limit}")
    _check_address(args.host, args.port)  # in a second, not after the model and Gradio have loaded
    app = build_demo(args.checkpoint, args.workers, args.time_limit)
    try:
        app.launch(server_name=args.host, server_port=args.port, share=args.share)
    except OSError as err:  # taken in the meantime
        raise PushkinLMError(
            f"cannot serve on {args.host}:{args.port} ({err}); pass another --port"
        ) from None


def _check_address(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as err:
            reason = "it is in use" if err.errno == errno.EADDRINUSE else err.strerror or str(err)
            raise PushkinLMError(
                f"cannot serve on {host}:{port}: {reason}; pass another --port or --host"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """`python code/demo.py`: the command with its own parser, errors as one line and exit status 2."""
    from .cli import ArgumentParser, _run

    parser = ArgumentParser(prog="pushkin-lm demo", description=DESCRIPTION)
    demo_flags(parser)
    return _run(demo, parser.prog, parser.parse_args(argv))


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, got {text}")
    return value


_port.__name__ = "whole number"
