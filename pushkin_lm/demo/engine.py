"""What the web demo does, without the web: a `Request` from the page checked, verse streamed, scanned.

`Engine.stream` is the page's generation function. It yields (verse, scansion, status) as the
verse is written; a bad setting or prompt gives a status that starts with WARNING and no verse,
never an exception, so the server keeps serving. Each request takes its own `Decoder` from a
small pool (a decoder is stateful; building one packs the weights, about 0.25 s for the shipped
model), so requests run side by side on one loaded model. Every step of a request's decoder
checks its time limit and its Stop (`_Timed`), so even a stanza form's line, which may try many
candidates before it yields, ends at once. Gradio is not imported here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.demo.request import TIME_LIMIT, WORKERS, Request
from pushkin_lm.demo.scan import shown
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.memory import generation_bytes, machine_bytes
from pushkin_lm.model.network import Network
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.forms import generate_form
from pushkin_lm.sampling.sample import check_prompt, generate
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.verse.forms import FREE_VERSE

YIELD_EVERY = 0.05  # seconds between page updates while writing
WARNING = "⚠ "
log = logging.getLogger(__name__)

Update = tuple[str, str, str]  # (verse, scansion, status)


class DecoderPool:
    """Decoders over one model, lent one per request. A decoder that is never given back (a
    request abandoned mid-stream) is simply not reused: `lease` builds another when none is free."""

    def __init__(self, decoder: Decoder, size: int) -> None:
        self.model: Network = decoder.model
        self.size = size
        self._free = [decoder]
        self._lock = threading.Lock()

    def fill(self) -> None:
        """Build decoders until `size` are free, so the first requests need not wait for one."""
        while len(self._free) < self.size:
            decoder = Decoder(self.model, int8=True)
            with self._lock:
                self._free.append(decoder)

    @contextmanager
    def lease(self) -> Iterator[Decoder]:
        with self._lock:
            decoder = self._free.pop() if self._free else None
        decoder = decoder or Decoder(self.model, int8=True)
        try:
            yield decoder
        finally:
            with self._lock:
                if len(self._free) < self.size:
                    self._free.append(decoder)


@dataclass
class Engine:
    """The loaded model and what a request may ask of it."""

    pool: DecoderPool
    vocab: CharVocab
    time_limit: float = TIME_LIMIT
    scansion: bool = True  # scan the finished verse (loads the stress model on first use)

    def stream(self, *values: Any, stop: threading.Event | None = None, **named: Any) -> Iterator[Update]:
        """The page's Generate: `values` are a `Request`'s fields, raw as the page sends them, in its
        order or by name; yields (verse so far, scansion, status) while writing, then the last one.
        Setting `stop` ends the writing at the next character, as the time limit does."""
        try:
            request = self.request(*values, **named)
        except PushkinLMError as err:
            yield "", "", WARNING + str(err)
            return
        try:
            yield from self._write(request, stop or threading.Event())
        except Exception:  # a bug, not a bad setting: logged, and the server goes on serving
            log.exception("generation failed")
            yield shown(request.prompt), "", WARNING + "generation failed on the server; try other settings"

    def request(self, *values: Any, **named: Any) -> Request:
        """The request, checked (see `Request.parse`) and its prompt spelt in this model's characters;
        PushkinLMError says what to change, in the page's words."""
        request = Request.parse(*values, **named)
        check_prompt(self.vocab, request.prompt)
        return request

    def _write(self, request: Request, stop: threading.Event) -> Iterator[Update]:
        start, settings = time.monotonic(), request.sampling()
        text, last, status = request.prompt, start, ""
        yield shown(text, final=False), "", "writing…"
        with self.pool.lease() as decoder:
            pieces = self._pieces(_Timed(decoder, start + self.time_limit, stop), request, settings)
            try:
                for piece in pieces:
                    text += piece
                    if time.monotonic() - last >= YIELD_EVERY:
                        last = time.monotonic()
                        yield shown(text, final=False), "", "writing…"
            except Stopped:
                status = "stopped: "
            except TimeUp:
                status = f"stopped at the time limit of {self.time_limit:g} s: "
            except PushkinLMError as err:
                yield shown(text), "", WARNING + str(err)
                return
            finally:
                pieces.close()
        written = len(text) - len(request.prompt)
        status += f"{written:,} character{'s' * (written != 1)} in {time.monotonic() - start:.1f} s, "
        status += f"seed {settings.seed}"
        yield shown(text), self.scan(text) if self.scansion else "", status

    def _pieces(self, decoder: Decoder, request: Request, settings: SampleConfig) -> Iterator[str]:
        if request.form == FREE_VERSE:
            return generate(decoder, self.vocab, request.prompt, settings)
        return generate_form(decoder, self.vocab, request.prompt, settings, request.form, request.line_meter)

    def scan(self, text: str | None) -> str:
        """The scansion of the end of `text`, as Markdown (see `demo_scan.scansion`)."""
        from pushkin_lm.demo.scan import scansion

        return scansion(text)


class TimeUp(PushkinLMError):
    """A request ran out of time."""


class Stopped(PushkinLMError):
    """The user pressed Stop."""


class _Timed:
    """A decoder that refuses to step past `deadline` (time.monotonic()) or once `stop` is set."""

    def __init__(self, decoder: Decoder, deadline: float, stop: threading.Event) -> None:
        self._decoder, self._deadline, self._stop = decoder, deadline, stop

    def __getattr__(self, name: str):
        return getattr(self._decoder, name)

    def step(self, char_id: int):
        self._check()
        return self._decoder.step(char_id)

    def step_many(self, ids):
        self._check()
        return self._decoder.step_many(ids)

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped("stopped")
        if time.monotonic() > self._deadline:
            raise TimeUp("out of time")


def load_engine(checkpoint: str | None = None, workers: int = WORKERS, **options) -> Engine:
    """The engine of a checkpoint folder or Hub repo id (default: the shipped model), with a pool
    of `workers` decoders; refused, in one line, if they would not fit in this machine's memory."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise PushkinLMError(
            f"workers must be a whole number of at least 1, got {workers!r}; pass --workers 1 or more"
        )
    loaded = load_checkpoint(checkpoint)
    check_workers(workers, loaded.model.cfg)
    return Engine(DecoderPool(Decoder(loaded.model, int8=True), workers), loaded.vocab, **options)


def check_workers(workers: int, cfg: ModelConfig) -> None:
    """Refuse more workers than this machine's memory holds decoders for, before building any: each
    request written at once has its own decoder (`generation_bytes` each, a generous bound)."""
    each, have = generation_bytes(cfg), machine_bytes(torch.device("cpu"))
    if workers * each > have:
        raise PushkinLMError(
            f"{workers:,} workers would need about {workers * each / 2**30:,.1f} GiB of memory for their "
            f"decoders but this machine has {have / 2**30:,.1f} GiB; pass --workers {have // each} or fewer"
        )
