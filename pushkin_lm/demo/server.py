"""The web demo (Gradio) built for a checkpoint: the page that `pushkin-lm demo` and app.py serve.

Gradio is an optional dependency (`pip install 'pushkin-lm[demo]'`), imported by `build_demo` alone
(through demo/page.py, the page itself), so that nothing else needs it or waits for it. What a
request does, and every check of the page's settings, is in demo/engine.py, which Gradio never enters.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import TYPE_CHECKING

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.demo.engine import load_engine
from pushkin_lm.demo.request import TIME_LIMIT, WORKERS
from pushkin_lm.demo.scan import warm_up

if TYPE_CHECKING:
    import gradio as gr


def build_demo(
    checkpoint: str | None = None,
    workers: int = WORKERS,
    time_limit: float = TIME_LIMIT,
    threads: int | None = 1,
) -> gr.Blocks:
    """The page for a checkpoint folder or Hub model repo id (default: the shipped model).

    `threads`: torch's threads for the whole process; one per request is fastest when characters
    are written one at a time and requests share the cores (None leaves torch's setting)."""
    if importlib.util.find_spec("gradio") is None:  # said before the model loads, not after
        raise PushkinLMError(
            "the demo needs Gradio, an optional dependency: pip install 'pushkin-lm[demo]' (or gradio)"
        )
    if threads:
        torch.set_num_threads(threads)
    engine = load_engine(checkpoint, workers, time_limit=time_limit)
    threading.Thread(target=engine.pool.fill, name="decoders").start()  # not a daemon: see warm_up
    warm_up()
    from pushkin_lm.demo.page import page  # imports Gradio (seconds)

    return page(engine, workers)
