"""The demo's web page (Gradio): its components, and its events around a `demo_engine.Engine`.

Imported only by `demo.build_demo`, so that nothing else needs Gradio. No `from __future__ import
annotations` here: Gradio reads the `gr.Request` annotation of the event functions at run time.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from .demo_engine import FREE, MAX_TOKENS, METERS, WARNING, Engine, Update

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
FORM_LABELS = {  # a form of pushkin_lm.forms without a label here is offered under its own name
    FREE: "free verse",
    "onegin": "Onegin stanza (AbAbCCddEffEgg)",
    "abab": "quatrain, cross rhyme (AbAb)",
    "abba": "quatrain, enclosed rhyme (AbbA)",
    "aabb": "quatrain, couplets (AAbb)",
}
QUEUE_SIZE = 64  # requests waiting for a worker; more are turned away with a message


def page(engine: Engine, workers: int) -> gr.Blocks:
    """The page: settings, Generate and Stop, the verse and its scansion side by side."""
    stops = Stops()
    with gr.Blocks(title="Pushkin LM", analytics_enabled=False) as app:
        gr.Markdown(
            "## Pushkin LM\nA character-level LSTM + attention model of Pushkin's verse. "
            "Give it an opening, or none, and watch it write; the scansion appears when it is done."
        )
        inputs = settings(engine)
        with gr.Row():
            generate = gr.Button("Generate", variant="primary", elem_id="generate")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
        status = gr.Textbox(label="Status", interactive=False, elem_id="status")
        with gr.Row():
            verse = gr.Textbox(label="Verse", lines=18, max_lines=40, interactive=False, elem_id="verse")
            with gr.Column(variant="panel"):
                gr.Markdown("**Scansion** (of the verse once written)")
                scansion = gr.Markdown(elem_id="scansion")
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
    """The request's inputs, in `Engine.stream`'s order: prompt, form, meter, feet, temperature,
    length, top-k, top-p, seed."""
    with gr.Row():
        opening = next(iter(openings(engine)), "")
        prompt = gr.Textbox(label="Prompt", lines=3, scale=3, elem_id="prompt", value=opening)
        with gr.Column(scale=2):
            forms = [(FORM_LABELS.get(name, name), name) for name in (FREE, *engine.forms)]
            form = gr.Dropdown(forms, value=FREE, label="Verse form", elem_id="form")
            with gr.Row():
                meter = gr.Dropdown(list(METERS), value="iamb", label="Meter (stanza forms)")
                feet = gr.Slider(1, 9, value=4, step=1, label="Feet")
    with gr.Row():
        temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="Temperature (0: greedy)")
        length = gr.Slider(1, MAX_TOKENS, value=500, step=1, label="Length (free verse)", elem_id="length")
        top_k = gr.Slider(0, len(engine.vocab), value=0, step=1, label="Top-k (0: off)")
        top_p = gr.Slider(0.05, 1, value=1, step=0.05, label="Top-p (1: off)")
        seed = gr.Number(None, precision=0, label="Seed (empty: random)", elem_id="seed")
    return [prompt, form, meter, feet, temperature, length, top_k, top_p, seed]


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
    """The Generate event: `engine.stream`, stopped by this page's Stop, its warnings also toasts."""

    def generate(
        prompt: str,
        form: str = FREE,
        meter: str = "iamb",
        feet: float = 4,
        temperature: float = 0.8,
        max_tokens: float = 500,
        top_k: float = 0,
        top_p: float = 1.0,
        seed: float | None = None,
        request: gr.Request = None,
    ) -> Iterator[Update]:
        """Write verse that continues `prompt`; yields (verse, scansion, status)."""
        settings = (prompt, form, meter, feet, temperature, max_tokens, top_k, top_p, seed)
        with stops.writing(request) as stop:
            for update in engine.stream(*settings, stop=stop):
                if update[2].startswith(WARNING):
                    gr.Warning(update[2].removeprefix(WARNING))
                yield update

    return generate


def openings(engine: Engine) -> list[str]:
    return [text for text in EXAMPLES if not engine.vocab.unknown_chars(text)]


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""
