"""What the web demo does, without the web: settings from the page checked, verse streamed, scanned.

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
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .decoder import Decoder
from .errors import PushkinLMError
from .forms import FORMS, FREE, generate_form
from .model import PushkinLM
from .sample import SampleConfig, check_prompt, generate
from .settings import MAX_SEED
from .verse import METERS
from .vocab import CharVocab

MAX_TOKENS = 2000  # the most characters one request writes
MAX_PROMPT_CHARS = 10_000
TIME_LIMIT = 60.0  # seconds per request, checked at every character (see _Timed)
YIELD_EVERY = 0.05  # seconds between page updates while writing
WARNING = "⚠ "
log = logging.getLogger(__name__)

Update = tuple[str, str, str]  # (verse, scansion, status)


@dataclass(frozen=True)
class Job:
    """One request's checked settings."""

    prompt: str
    form: str
    meter: str  # e.g. "iamb4"
    settings: SampleConfig


class DecoderPool:
    """Decoders over one model, lent one per request. A decoder that is never given back (a
    request abandoned mid-stream) is simply not reused: `lease` builds another when none is free."""

    def __init__(self, decoder: Decoder, size: int) -> None:
        self.model: PushkinLM = decoder.model
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
    forms: dict[str, str] = field(default_factory=lambda: dict(FORMS))

    def stream(
        self,
        prompt: str | None,
        form: str = FREE,
        meter: str = "iamb",
        feet: float = 4,
        temperature: float = 0.8,
        max_tokens: float = 500,
        top_k: float | None = 0,
        top_p: float | None = 1.0,
        seed: float | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[Update]:
        """The page's Generate: (verse so far, scansion, status) while writing, then the last one.
        Setting `stop` ends the writing at the next character, as the time limit does."""
        try:
            job = self.job(prompt, form, meter, feet, temperature, max_tokens, top_k, top_p, seed)
        except PushkinLMError as err:
            yield "", "", WARNING + str(err)
            return
        try:
            yield from self._write(job, stop or threading.Event())
        except Exception:  # a bug, not a bad setting: logged, and the server goes on serving
            log.exception("generation failed")
            yield job.prompt, "", WARNING + "generation failed on the server; try other settings"

    def job(
        self,
        prompt: str | None,
        form: str,
        meter: str,
        feet: float,
        temperature: float,
        max_tokens: float,
        top_k: float | None,
        top_p: float | None,
        seed: float | None,
    ) -> Job:
        """The request's settings, checked; PushkinLMError says what to change, in the page's words."""
        prompt = (prompt or "").replace("\r\n", "\n")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PushkinLMError(
                f"the prompt has {len(prompt):,} characters; the demo reads at most {MAX_PROMPT_CHARS:,}"
            )
        check_prompt(self.vocab, prompt)
        if form != FREE and form not in self.forms:
            choices = ", ".join([FREE, *self.forms])
            raise PushkinLMError(f"unknown verse form {form!r}: choose one of {choices}")
        if meter not in METERS:
            raise PushkinLMError(f"unknown meter {meter!r}: choose one of {', '.join(METERS)}")
        seed = random.randrange(2**31) if seed is None or seed == "" else seed
        settings = SampleConfig(
            max_tokens=_whole(max_tokens, "length", 1, MAX_TOKENS),
            temperature=_number(temperature, "temperature", 0, 5),
            top_k=_whole(top_k, "top-k", 0, len(self.vocab)) or None,
            top_p=_top_p(top_p),
            seed=_whole(seed, "seed", 0, MAX_SEED),
        )
        return Job(prompt, form, f"{meter}{_whole(feet, 'feet', 1, 9)}", settings)

    def _write(self, job: Job, stop: threading.Event) -> Iterator[Update]:
        start = time.monotonic()
        text, last, status = job.prompt, start, ""
        yield text, "", "writing…"
        with self.pool.lease() as decoder:
            pieces = self._pieces(_Timed(decoder, start + self.time_limit, stop), job)
            try:
                for piece in pieces:
                    text += piece
                    if time.monotonic() - last >= YIELD_EVERY:
                        last = time.monotonic()
                        yield text, "", "writing…"
            except Stopped:
                status = "stopped: "
            except TimeUp:
                status = f"stopped at the time limit of {self.time_limit:g} s: "
            except PushkinLMError as err:
                yield text, "", WARNING + str(err)
                return
            finally:
                pieces.close()
        written = len(text) - len(job.prompt)
        status += f"{written:,} character{'s' * (written != 1)} in {time.monotonic() - start:.1f} s, "
        status += f"seed {job.settings.seed}"
        yield text, self.scan(text) if self.scansion else "", status

    def _pieces(self, decoder: Decoder, job: Job) -> Iterator[str]:
        if job.form == FREE:
            return generate(decoder, self.vocab, job.prompt, job.settings)
        return generate_form(decoder, self.vocab, job.prompt, job.settings, job.form, job.meter)

    def scan(self, text: str | None) -> str:
        """The scansion of the end of `text`, as Markdown (see `demo_scan.scansion`)."""
        from .demo_scan import scansion

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


def load_engine(checkpoint: str | None = None, workers: int = 8, **options) -> Engine:
    """The engine of a checkpoint folder or Hub repo id (default: the shipped model)."""
    decoder, vocab = Decoder.from_checkpoint(checkpoint, int8=True)
    return Engine(DecoderPool(decoder, workers), vocab, **options)


def _number(value, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PushkinLMError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:  # also refuses NaN
        raise PushkinLMError(f"{name} must be from {low:g} to {high:g}, got {value}")
    return number


def _whole(value, name: str, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):  # exact, even past float's 2**53
        if not low <= value <= high:
            raise PushkinLMError(f"{name} must be from {low} to {high}, got {value}")
        return value
    number = _number(value, name, low, high)
    if number != int(number):
        raise PushkinLMError(f"{name} must be a whole number, got {value}")
    return int(number)


def _top_p(value) -> float | None:
    if value is None:
        return None
    number = _number(value, "top-p", 0, 1)
    if number == 0:
        raise PushkinLMError("top-p must be above 0 (1 keeps every character)")
    return None if number == 1 else number
