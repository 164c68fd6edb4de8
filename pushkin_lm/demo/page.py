"""The demo's web page (Gradio): its components, and its events around a `demo_engine.Engine`.

Imported only by `demo.build_demo`, so that nothing else needs Gradio. No `from __future__ import
annotations` here: Gradio reads the `gr.Request` annotation of the event functions at run time.
"""

import dataclasses
import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from pushkin_lm.core.settings import field_types
from pushkin_lm.demo.engine import Engine, Update
from pushkin_lm.demo.request import Request
from pushkin_lm.demo.scan import POEM_MARK
from pushkin_lm.verse.forms import FREE_VERSE

# Openings of well-known lines, one click away; those the model's vocabulary cannot spell are left out.
EXAMPLES = (
    "Мой дядя самых честных правил,\n",
    "Я помню чудное мгновенье:\n",
    "Мороз и солнце; день чудесный!\n",
    "У лукоморья дуб зелёный;\n",
    "Буря мглою небо кроет,\n",
    "Я вас любил: любовь ещё, быть может,\n",
    "Я памятник себе воздвиг нерукотворный,\n",
    "Редеет облаков летучая гряда;\n",
)
FORM_LABELS = {  # a form of pushkin_lm.sampling.forms without a label here is offered under its own name
    FREE_VERSE: "free verse",
    "onegin": "Onegin stanza (AbAbCCddEffEgg)",
    "abab": "quatrain, cross rhyme (AbAb)",
    "abba": "quatrain, enclosed rhyme (AbbA)",
    "aabb": "quatrain, couplets (AAbb)",
}
QUEUE_SIZE = 64  # requests waiting for a worker; more are turned away with a message
KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
STEP = 0.05  # a slider's step for a fractional setting
SLIDER_ENDS = {"temperature": 2}  # the useful part of a wider range (a request may ask up to 5)
PROMPT_LINES, VERSE_LINES = (3, 8), (14, 20)  # text boxes grow to their second number, then scroll
SCANSION_HEIGHT = 460  # pixels; a longer scansion scrolls inside its panel
# A phone's narrow columns must not break "syllables" mid-word: headers stay whole, words break only
# at spaces, and a table wider than its panel scrolls sideways instead.
CSS = """
#scansion table { display: block; overflow-x: auto; }
#scansion th, #scansion td { word-break: normal; overflow-wrap: normal; hyphens: none; }
#scansion th { white-space: nowrap; }
"""
# Run once the page has loaded. Gradio's own autoscroll loses the Verse box's end while it grows
# (measured: scrollTop 0 after 2,000 characters), so the page follows it itself, unless the reader
# has scrolled up (by wheel, touch, pointer or keys: Gradio's resizing of the box scrolls it too).
# And a slider's box clamps a number typed past its ends without a word (100000 becomes 2000): the
# page says so in the status line, before Gradio's handler clamps it.
JS = """
() => {
  const follow = {pinned: true, length: 0};
  const frame = () => {  // every frame: a length compared, and the end scrolled to when it grew
    requestAnimationFrame(frame);
    const box = document.querySelector('#verse textarea');
    if (!box || box.value.length === follow.length) return;
    if (box.value.length < follow.length) follow.pinned = true;  // a new verse starts at its top
    follow.length = box.value.length;
    if (follow.pinned) box.scrollTop = box.scrollHeight;
  };
  frame();
  // Only the reader's own scrolling unpins: Gradio's resizing of the box scrolls it too.
  for (const kind of ['wheel', 'touchmove', 'pointerdown', 'keydown'])
    document.addEventListener(kind, (event) => {
      if (event.target.closest && event.target.closest('#verse')) follow.touched = Date.now();
    }, true);
  document.addEventListener('scroll', (event) => {
    const box = event.target;
    if (box.matches && box.matches('#verse textarea') && Date.now() - (follow.touched || 0) < 1000)
      follow.pinned = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
  }, true);
  document.addEventListener('change', (event) => {
    const box = event.target;
    if (!box.matches || !box.matches('input[type=number][min][max]') || box.value === '') return;
    const [value, low, high] = [box.value, box.min, box.max].map(Number);
    if (value >= low && value <= high) return;
    const block = box.closest('.block');
    const label = block && block.querySelector('[data-testid=block-info]');
    const name = (label ? label.textContent : 'this setting').split(' (')[0].trim();
    const status = document.querySelector('#status textarea');
    if (status) status.value = `⚠ ${name} goes from ${low} to ${high}: ${box.value} is out of range, ` +
      `so it is set to ${value < low ? low : high}`;
  }, true);
}
"""


def page(engine: Engine, workers: int) -> gr.Blocks:
    """The page: settings, Generate and Stop, the verse and its scansion side by side."""
    stops = Stops()
    with Page(title="Pushkin LM", analytics_enabled=False) as app:
        gr.Markdown(
            "## Pushkin LM\nA character-level LSTM + attention model of Pushkin's verse. "
            "Give it an opening, or none, and watch it write; the scansion appears when it is done. "
            f"A line {POEM_MARK} is where the model ended a poem and began another."
        )
        inputs = settings(engine)
        with gr.Row():
            generate = gr.Button("Generate", variant="primary", elem_id="generate")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
        status = gr.Textbox(label="Status", interactive=False, elem_id="status")
        with gr.Row():
            lines, most = VERSE_LINES
            verse = gr.Textbox(label="Verse", lines=lines, max_lines=most, interactive=False, elem_id="verse")
            with gr.Column(variant="panel"):
                gr.Markdown("**Scansion** (of the verse once written)")
                scansion = gr.Markdown(elem_id="scansion", max_height=SCANSION_HEIGHT)
        if examples := openings(engine):
            gr.Examples([[text] for text in examples], inputs=inputs[:1], label="Openings of Pushkin's lines")
        # Generate first arms this page's Stop (so that Stop also ends a request still queued), then writes.
        armed = generate.click(stops.arm, None, None, queue=False, api_visibility="private")
        outputs = [verse, scansion, status]
        # Gradio's own checks of the inputs (preprocess) would answer an out-of-range value from the
        # API with a traceback in the server's log; the engine checks every value itself, with a message.
        writing = writer(engine, stops)
        armed.then(writing, inputs, outputs, concurrency_limit=workers, api_name="generate", preprocess=False)
        stop.click(stops.stop, None, None, queue=False, api_visibility="private")
    app.queue(max_size=QUEUE_SIZE)
    return app


def settings(engine: Engine) -> list:
    """The request's controls, one per field of `Request` and in its order (`Engine.stream`'s): the
    verse's laid out by hand, the sampler's in a row, each built from its field's metadata."""
    fields = {f.name: f for f in dataclasses.fields(Request)}
    made = {}
    with gr.Row():
        opening = next(iter(openings(engine)), "")
        lines, most = PROMPT_LINES
        made["prompt"] = control(fields.pop("prompt"), lines=lines, max_lines=most, scale=3, value=opening)
        with gr.Column(scale=2):
            forms = [(FORM_LABELS.get(name, name), name) for name in fields["form"].metadata["choices"]]
            made["form"] = control(fields.pop("form"), choices=forms)
            with gr.Row():
                for name in ("meter", "feet"):
                    made[name] = control(fields.pop(name))
    # A slider needs an end: top-k's is the vocabulary (beyond it every k is all characters).
    ends = SLIDER_ENDS | {"top_k": len(engine.vocab)}
    with gr.Row():
        for name, f in fields.items():
            made[name] = control(f, **({"maximum": ends[name]} if name in ends else {}))
    return [made[f.name] for f in dataclasses.fields(Request)]


def control(f: dataclasses.Field, **options: Any) -> gr.components.Component:
    """A field's control: its label and default from the field; choices a menu, text a box, a
    number with both ends a slider over its range (or to `maximum`), other numbers a number box."""
    kind, optional = field_types(Request)[f.name]
    meta, maximum = f.metadata, options.pop("maximum", f.metadata["maximum"])
    options = {"label": meta["help"], "value": f.default, "elem_id": f.name} | options
    if meta["choices"]:
        return gr.Dropdown(options.pop("choices", list(meta["choices"])), **options)
    if kind is str:
        return gr.Textbox(**options)
    step = 1 if kind is int else STEP
    low = meta["minimum"] if meta["minimum"] is not None else meta["above"]
    if optional:  # the seed: a text box, since Gradio's number box shows empty as 0 (and sends 0)
        return gr.Textbox(placeholder="random", **(options | {"value": options["value"] or ""}))
    if low is None or maximum is None:
        return gr.Number(precision=0 if kind is int else None, **options)
    low += step if meta["minimum"] is None else 0  # above 0: the first step
    return gr.Slider(low, maximum, step=step, **options)


class Page(gr.Blocks):
    """The page's Blocks: launched with its own CSS and script, and with the API's arity checked."""

    def launch(self, *args: Any, **options: Any) -> Any:
        return super().launch(*args, **({"css": CSS, "js": JS} | options))

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        """Gradio answers too few values with a traceback in the log and `{"error": null}` to the
        caller, and drops extra ones unread; the API's generate answers both with a message."""
        wanted = len(block_fn.inputs)
        if block_fn.api_name == "generate" and len(inputs) != wanted:
            names = ", ".join(f.name for f in dataclasses.fields(Request))
            raise gr.Error(
                f"generate takes {wanted} values ({names}), got {len(inputs)}; send each, in this order",
                print_exception=False,
            )
        super().validate_inputs(block_fn, inputs)


class Stops:
    """Each page's Stop: an event per browser session, made by Generate's click, set by Stop's,
    read by the writing between two characters; dropped when the writing ends."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, request: gr.Request) -> None:
        with self._lock:
            self._events[_session(request)] = threading.Event()

    def stop(self, request: gr.Request) -> None:
        with self._lock:
            event = self._events.get(_session(request))
        if event is not None:
            event.set()

    @contextmanager
    def writing(self, request: gr.Request | None) -> Iterator[threading.Event]:
        session = _session(request)
        with self._lock:
            event = self._events.setdefault(session, threading.Event())
        try:
            yield event
        finally:
            with self._lock:
                if self._events.get(session) is event:
                    del self._events[session]


def writer(engine: Engine, stops: Stops):
    """The Generate event: `engine.stream`, stopped by this page's Stop. A warning is the status
    line alone, replaced by the next, not also a toast: toasts piled up, one per bad Generate."""

    def generate(request: gr.Request, *values: Any) -> Iterator[Update]:
        """Write verse that continues the prompt; `values` are the controls of `settings`, a
        `Request`'s fields in order. Yields (verse, scansion, status)."""
        with stops.writing(request) as stop:
            yield from engine.stream(*values, stop=stop)

    # Gradio names the API's parameters after the signature's: the fields', not param_0, param_1...
    fields = [inspect.Parameter(f.name, KEYWORD, default=f.default) for f in dataclasses.fields(Request)]
    generate.__signature__ = inspect.Signature([inspect.Parameter("request", KEYWORD), *fields])
    return generate


def openings(engine: Engine) -> list[str]:
    return [text for text in EXAMPLES if not engine.vocab.unknown_chars(text)]


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""
