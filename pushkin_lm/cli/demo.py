"""`pushkin-lm demo`: serve the web page that writes verse as you watch (demo/), until Ctrl-C."""

from __future__ import annotations

import argparse
import errno
import socket

from pushkin_lm.cli.common import checkpoint_flag
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import add_flag, number, whole_number
from pushkin_lm.demo.request import TIME_LIMIT, WORKERS

DESCRIPTION = (
    "Serve a web page that writes verse as you watch (Gradio): prompt, verse form, sampling "
    "settings, Generate and Stop, the scansion beside the verse; on 127.0.0.1:7860 by default."
)


def flags(p: argparse.ArgumentParser) -> None:
    checkpoint_flag(p)
    add_flag(p, "port", type=whole_number(1, 65535), default=7860, help="the port to serve on")
    add_flag(
        p, "host", default="127.0.0.1", help="the address to serve on (0.0.0.0: every network interface)"
    )
    add_flag(p, "share", action="store_true", help="also serve through a public gradio.live link")
    add_flag(
        p, "workers", type=whole_number(1), default=WORKERS, help="requests written at once, a decoder each"
    )
    add_flag(
        p, "time_limit", type=number(above=0), default=TIME_LIMIT, help="seconds one request may write for"
    )


def run(args: argparse.Namespace) -> None:
    check_address(args.host, args.port)  # in a second, not after the model and Gradio have loaded
    from pushkin_lm.demo.server import build_demo

    app = build_demo(args.checkpoint, args.workers, args.time_limit)
    try:
        # quiet: Gradio's own lines would tell the user to "set `share=True` in `launch()`"; ours
        # names the flag. A public link, or why there is none, Gradio prints even when quiet.
        app.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            quiet=True,
            prevent_thread_lock=True,
        )
    except OSError as err:  # taken in the meantime
        raise PushkinLMError(
            f"cannot serve on {args.host}:{args.port} ({err}); pass another --port"
        ) from None
    print(serving_line(args.host, args.port, args.share), flush=True)
    app.block_thread()  # until Ctrl-C, which closes the server


def serving_line(host: str, port: int, share: bool) -> str:
    """Where the page is, and how to share it (our flag, not Gradio's `share=True`)."""
    shown = f"[{host}]" if ":" in host else host
    hint = "; Ctrl-C to stop" if share else "; pass --share for a public link, Ctrl-C to stop"
    return f"Serving the demo on http://{shown}:{port}/{hint}"


def check_address(host: str, port: int) -> None:
    """Refuse an address that cannot be served on, naming why."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as err:
            reason = "it is in use" if err.errno == errno.EADDRINUSE else err.strerror or str(err)
            raise PushkinLMError(
                f"cannot serve on {host}:{port}: {reason}; pass another --port or --host"
            ) from None
