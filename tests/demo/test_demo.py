"""The web demo's generation function, called directly (no server, no browser): it streams text that
continues the prompt, turns every bad setting into a message, and keeps its bounds."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_script

from pushkin_lm.cli.demo import serving_line
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.demo import engine as demo_engine
from pushkin_lm.demo.engine import WARNING, Engine, load_engine
from pushkin_lm.demo.request import MAX_PROMPT_CHARS, MAX_TOKENS, Request, page_word
from pushkin_lm.demo.scan import MAX_SCAN_LINES, POEM_MARK, SCAN_HEADER, shown, warm_up
from pushkin_lm.sampling.config import SampleConfig

PROMPT = "луна мороз "  # the tiny model's vocabulary is the made-up verse's letters


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the demo serves: on a busy machine two threads spinning for one
    character's small products make generation ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(trained_dir: Path) -> Engine:
    return load_engine(str(trained_dir), workers=2, scansion=False)


def final(updates) -> tuple[str, str, str]:
    *_, last = updates
    return last


def test_the_verse_streams_in_and_continues_the_prompt(engine: Engine, monkeypatch) -> None:
    monkeypatch.setattr(demo_engine, "YIELD_EVERY", 0.0)  # an update per character
    updates = list(engine.stream(PROMPT, max_tokens=60, seed=3))
    texts = [verse for verse, _, _ in updates]
    assert texts[0] == PROMPT and updates[0][2] == "writing…"
    assert all(b.startswith(a) and len(b) >= len(a) for a, b in zip(texts, texts[1:], strict=False))
    verse, _, status = updates[-1]
    assert len(texts) > 30 and len(verse) == len(PROMPT) + 60
    assert status.startswith("60 characters in") and status.endswith("seed 3"), status


def test_a_seed_gives_the_same_verse_and_no_seed_says_which_it_drew(engine: Engine) -> None:
    first, again = (final(engine.stream(PROMPT, max_tokens=40, seed=11))[0] for _ in range(2))
    assert first == again
    status = final(engine.stream(PROMPT, max_tokens=40, seed=None))[2]
    drawn = int(status.rsplit("seed ", 1)[1])
    assert final(engine.stream(PROMPT, max_tokens=40, seed=drawn))[2].endswith(f"seed {drawn}")


def test_requests_side_by_side_do_not_share_a_decoder(engine: Engine) -> None:
    alone = [final(engine.stream(p, max_tokens=50, seed=s))[0] for p, s in ((PROMPT, 1), ("ночь ", 2))]
    a, b = engine.stream(PROMPT, max_tokens=50, seed=1), engine.stream("ночь ", max_tokens=50, seed=2)
    next(a), next(b)  # both are writing: each holds a decoder
    together = [final(a)[0], final(b)[0]]
    assert together == alone


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"prompt": "луна ☃ snow"}, "does not know"),
        ({"prompt": "луна " * 200_000}, "at most 10,000"),
        ({"max_tokens": 10**9}, "length must be a whole number from 1 to 2000"),
        ({"max_tokens": 0}, "length must be a whole number from 1"),
        ({"max_tokens": "lots"}, "length must be a number"),
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"temperature": -1}, "temperature must be in [0, 5]"),
        ({"top_k": 2.5}, "top-k must be a whole number"),
        ({"top_k": [3]}, "top-k must be a number"),
        ({"top_p": 0}, "top-p must be in (0, 1]"),
        ({"seed": -3}, "seed must be a whole number from 0"),
        ({"seed": 2**64}, "seed must be a whole number from 0"),
        ({"form": "sonnet"}, "verse form must be one of free, onegin"),
        ({"meter": "spondee"}, "meter must be one of iamb"),
        ({"feet": 12}, "feet must be a whole number from 1 to 9"),
        ({"prompt": 5}, "prompt must be text"),
        ({"colour": "red"}, "setting 'colour' is not one of prompt, form"),
        # what only the HTTP API can send: repeated in a few characters, never whole
        ({"prompt": ["луна"] * 100_000}, "prompt must be text, got ['луна', 'луна', 'луна', 'луна', ...]"),
        ({"prompt": {"a": [[[[1]]]]}}, "prompt must be text, got {'a': [[[...]]]}"),
        ({"max_tokens": 10**5000}, "length must be a whole number from 1 to 2000, got about 2^16609"),
        ({"x" * 10_000: 1}, "setting 'xxxxxxxx"),
    ],
)
def test_bad_settings_give_a_message_not_an_exception(engine: Engine, settings: dict, message: str) -> None:
    request = {"prompt": PROMPT, "max_tokens": 20, "seed": 1} | settings
    updates = list(engine.stream(**request))
    assert len(updates) == 1
    verse, scansion, status = updates[0]
    assert status.startswith(WARNING) and message in status, status
    assert len(status) < 200 and "\n" not in status, status
    assert verse == scansion == ""
    assert final(engine.stream(PROMPT, max_tokens=20, seed=1))[2].startswith("20 characters")  # still serving


def test_the_defaults_pass_and_the_page_s_raw_values_are_read() -> None:
    defaults = Request.parse(*[f.default for f in dataclasses.fields(Request)])
    assert dataclasses.replace(defaults, seed=None) == Request()  # only the seed, drawn
    raw = Request.parse(PROMPT, "abab", "trochee", 3.0, 1, 40.0, 0.0, 1, "")  # as sliders send them
    assert (raw.feet, raw.max_tokens, raw.temperature, raw.line_meter) == (3, 40, 1.0, "trochee3")
    assert isinstance(raw.feet, int) and isinstance(raw.seed, int) and isinstance(raw.temperature, float)
    off = raw.sampling()
    assert (off.top_k, off.top_p, off.seed, off.max_tokens) == (None, None, raw.seed, 40)
    on = Request.parse(top_k="5", top_p=0.9, seed="18446744073709551615").sampling()
    assert (on.top_k, on.top_p, on.seed) == (5, 0.9, 2**64 - 1)  # text, and exact past 2**53
    assert {f.name for f in dataclasses.fields(SampleConfig)} <= {f.name for f in dataclasses.fields(Request)}


def out_of_range() -> list[tuple[str, float]]:
    """Each numeric field of Request with a value past each of its ends."""
    cases = []
    for f in dataclasses.fields(Request):
        meta = f.metadata
        if f.name in ("prompt", "form", "meter"):
            continue
        low = meta["minimum"] - 1 if meta["minimum"] is not None else meta["above"]
        high = meta["maximum"] + 1 if meta["maximum"] is not None else meta["below"]
        cases += [(f.name, value) for value in (low, high) if value is not None]
    return cases


@pytest.mark.parametrize("name, value", out_of_range())
def test_each_setting_out_of_range_warns_in_one_line_naming_it(engine: Engine, name: str, value) -> None:
    updates = list(engine.stream(PROMPT, **{name: value}))
    status = updates[-1][2]
    assert len(updates) == 1 and status.startswith(WARNING) and "\n" not in status, status
    word = page_word(next(f for f in dataclasses.fields(Request) if f.name == name))
    assert status.removeprefix(WARNING).startswith(f"{word} must be "), status


def test_length_and_prompt_are_bounded_at_their_limits(engine: Engine) -> None:
    longest = ("луна " * MAX_PROMPT_CHARS)[:MAX_PROMPT_CHARS]
    verse, _, status = final(engine.stream(longest, max_tokens=20, seed=1))
    assert verse.startswith(longest) and len(verse) == MAX_PROMPT_CHARS + 20, status
    assert engine.request(longest, "free", "iamb", 4, 0.8, MAX_TOKENS, 0, 1, 1).max_tokens == MAX_TOKENS
    assert final(engine.stream(longest + "л"))[2].startswith(WARNING)
    assert final(engine.stream(PROMPT, max_tokens=MAX_TOKENS + 1))[2].startswith(WARNING)


def test_a_request_stops_at_the_time_limit(trained_dir: Path) -> None:
    hasty = load_engine(str(trained_dir), workers=1, scansion=False, time_limit=0.05)
    verse, _, status = final(hasty.stream(PROMPT, max_tokens=MAX_TOKENS, seed=1))
    assert status.startswith("stopped at the time limit of 0.05 s"), status
    assert verse.startswith(PROMPT) and len(verse) < len(PROMPT) + MAX_TOKENS


def test_a_stanza_form_streams_its_lines(monkeypatch) -> None:
    monkeypatch.setattr(demo_engine, "YIELD_EVERY", 0.0)
    shipped = load_engine(None, workers=1, scansion=False)
    opening = "Мой дядя самых честных правил,\n"
    updates = list(shipped.stream(opening, form="abab", meter="iamb", feet=4, seed=1))
    verse, _, status = updates[-1]
    assert verse.startswith(opening) and verse.endswith("\n") and verse.count("\n") == 4, status
    assert [v.count("\n") for v, _, _ in updates[1:-1]] == [2, 3, 4]  # a line at a time
    assert status.startswith(f"{len(verse) - len(opening)} characters in"), status


def test_a_stanza_form_stops_at_the_time_limit_inside_a_line(trained_dir: Path, monkeypatch) -> None:
    warm_up().join()  # the stress model's first load is not the request's time
    # The tiny model writes no line in trochee 3; rounds without end, so only the clock ends them.
    monkeypatch.setattr("pushkin_lm.sampling.forms.MAX_ROUNDS", 10**9)
    hasty = load_engine(str(trained_dir), workers=1, scansion=False, time_limit=1.0)
    start = time.monotonic()
    # 14 lines, which no CPU writes in 1 s (four lines sometimes finished at 1.0 s exactly)
    updates = list(hasty.stream(PROMPT, form="onegin", meter="trochee", feet=3, seed=1))
    verse, _, status = updates[-1]
    assert verse.startswith(PROMPT) and status.startswith("stopped at the time limit of 1 s"), status
    assert time.monotonic() - start < 3.0  # a line that never scans is cut off by the clock


def test_the_scansion_marks_stresses_meter_and_rhymes(engine: Engine) -> None:
    scanned = engine.scan(
        "Мой дядя самых честных правил,\nКогда не в шутку занемог,\n"
        "Он уважать себя заставил\nИ лучше выдумать не мог."
    )
    lines = scanned.splitlines()
    assert lines[:4] == ["scheme **AbAb**", "", SCAN_HEADER, "|-|-|-|-|"]
    assert lines[4].startswith("| A | 9 | iamb 4 | Мой дя́дя") and lines[5].startswith("| b | 8 | iamb 4 |")
    assert engine.scan("звезда* | </s> река_").count("\\") == 5  # Markdown's characters, escaped
    assert engine.scan("") == "" and engine.scan(None) == ""


def test_poem_breaks_show_as_marks_and_a_long_scansion_says_it_covers_the_end(engine: Engine) -> None:
    assert shown("луна\n</s>\nмороз") == f"луна\n{POEM_MARK}\nмороз"
    assert shown("луна\n</", final=False) == "луна\n"  # a break being written shows once whole
    assert shown("луна\n</", final=True) == "луна\n</"
    scanned = engine.scan("луна мороз\n" * (MAX_SCAN_LINES + 40))
    assert scanned.startswith(f"*scansion of the last {MAX_SCAN_LINES} of {MAX_SCAN_LINES + 40} lines*")
    assert not engine.scan("луна мороз\n" * 3).startswith("*scansion of")


def test_the_page_builds_and_a_warning_is_its_status_line_alone(engine: Engine) -> None:
    import gradio as gr

    from pushkin_lm.demo.page import Stops, page, writer

    app = page(engine, workers=2)
    assert "generate" in {fn.api_name for fn in app.fns.values()}
    with warnings.catch_warnings():  # no toast (outside a request Gradio makes a toast a warning)
        warnings.simplefilter("error")
        assert list(writer(engine, Stops())(None, "☃"))[-1][2].startswith(
            WARNING + "the prompt has characters the model does not know"
        )
    generating = next(fn for fn in app.fns.values() if fn.api_name == "generate")
    names = [f.name for f in dataclasses.fields(Request)]
    assert [c.elem_id for c in generating.inputs] == names
    parameters = app.get_api_info()["named_endpoints"]["/generate"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == names  # the API's names too
    for values in ([PROMPT], [PROMPT] * (len(names) + 1)):  # too few, too many: a message, not a traceback
        with pytest.raises(gr.Error, match=f"generate takes {len(names)} values .* got {len(values)}"):
            app.validate_inputs(generating, values)


def test_stop_ends_the_writing_at_the_next_character(engine: Engine) -> None:
    stop = threading.Event()
    writing = engine.stream(PROMPT, max_tokens=MAX_TOKENS, seed=1, stop=stop)
    next(writing)
    stop.set()
    verse, _, status = final(writing)
    assert status.startswith("stopped: 1 character in"), status  # the one drawn before the first step
    assert verse.startswith(PROMPT) and len(verse) == len(PROMPT) + 1


def test_importing_the_demo_imports_neither_gradio_nor_torch() -> None:
    # what `pushkin-lm demo --help` loads: the command and the request's defaults (server.py loads torch)
    modules = "pushkin_lm.cli.main, pushkin_lm.cli.demo, pushkin_lm.demo.request"
    check = f"import sys, {modules}; print(sorted({{'gradio', 'torch'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_refuses_a_missing_checkpoint_in_one_line(tmp_path: Path) -> None:
    result = run_script("demo", "--checkpoint", str(tmp_path / "missing"), "--port", "7999")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr, result.stderr
    assert run_script("demo", "--port", "70000").returncode == 2


def test_workers_beyond_the_machine_s_memory_are_refused_before_any_decoder_is_built(trained_dir) -> None:
    with pytest.raises(PushkinLMError, match=r"100,000,000 workers would need .* --workers \d+ or fewer"):
        load_engine(str(trained_dir), workers=100_000_000)
    with pytest.raises(PushkinLMError, match="workers must be a whole number of at least 1"):
        load_engine(str(trained_dir), workers=0)
    result = run_script("demo", "--checkpoint", str(trained_dir), "--workers", "100000000", "--port", "7998")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "pass --workers" in result.stderr and result.stdout == ""


def test_app_py_help_prints_the_flags_and_serves_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: app.py") and "--share" in result.stdout
    assert "Running on" not in result.stdout + result.stderr


def test_the_serving_line_names_our_share_flag() -> None:
    assert serving_line("127.0.0.1", 7860, share=False) == (
        "Serving the demo on http://127.0.0.1:7860/; pass --share for a public link, Ctrl-C to stop"
    )
    assert serving_line("::1", 80, share=True) == "Serving the demo on http://[::1]:80/; Ctrl-C to stop"


def test_the_command_refuses_a_port_in_use_before_loading_anything() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_script("demo", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2 and "it is in use; pass another --port" in result.stderr, result.stderr
