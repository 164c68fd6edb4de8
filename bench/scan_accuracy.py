"""`scan` against RIFMA's hand-checked stress marks and rhyme schemes, the plain silero accentor beside it.

    python bench/scan_accuracy.py --data ../shared/data/rifma_dev/rifma_dev.json [--limit 500] [--json]

RIFMA (Koziev/Rifma, MIT) gives each fragment's text, the same text with U+0301 after every stressed
vowel (`accentuation_markup`) and its rhyme scheme per stanza ("-": a line without a partner). Figures:

* word stress: words of two or more syllables that the marks stress, right where `scan`'s `stressed`
  text puts its mark (a word with ё and no mark: on its ё); beside it silero-stress's context-free
  accentor on each line (the baseline) and its full pipeline (homographs resolved in context) on each
  stanza;
* line meter: lines whose marks settle one cheapest reading (meter and feet, by verse.meter's own
  costs, the marked polysyllables stressed and everything else free) read so by `scan`;
* rhyme scheme: stanzas whose scheme `scan` gives exactly (letters compared as a partition of the lines:
  case, which marks the ending, and the letters' names do not count);
* seconds per 1,000 lines, the stress model's loading apart;
* start-up: `pushkin-lm scan` of one stanza, end to end, against `python -c "import torch"` in the same
  run (the median of --repeats runs each, taken in turns).

A fragment whose stanzas or lines do not pair with its schemes is left out and counted.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onegin import STANZA

from pushkin_lm.core.version import VERSION
from pushkin_lm.verse import scan_text, split_stanzas
from pushkin_lm.verse.meter import FREE, METERS, STRESS, WEAK, Reading, misses
from pushkin_lm.verse.stress import VOWELS

ACUTE, GRAVE, CIRCUMFLEX = "\u0301", "\u0300", "\u0302"
PART = re.compile(r"[а-яё\u0300\u0301\u0302]+", re.IGNORECASE)  # a word, or one part of a hyphenated one


@dataclass(frozen=True)
class Stanza:
    lines: list[str]  # as RIFMA's poem_text writes them
    marked: list[str]  # the same lines with the hand-checked marks
    scheme: str


def load(path: Path, limit: int | None) -> tuple[list[Stanza], int]:
    """RIFMA's fragments as stanzas, and how many fragments did not pair up and were left out."""
    fragments = json.loads(path.read_text(encoding="utf-8"))[:limit]
    stanzas, dropped = [], 0
    for f in fragments:
        texts, marks = split_stanzas(f["poem_text"]), split_stanzas(f["accentuation_markup"])
        schemes = f["rhyme_scheme"].split()
        sizes = {tuple(map(len, texts)), tuple(map(len, marks)), tuple(map(len, schemes))}
        if len(sizes) != 1:
            dropped += 1
            continue
        stanzas += [Stanza(t, m, s) for t, m, s in zip(texts, marks, schemes, strict=True)]
    return stanzas, dropped


def stresses(marked: str) -> list[tuple[str, int | None]]:
    """Each word part of a marked line: its letters (lower case, ё as е) and the index among its vowels of
    the first vowel marked U+0301 (a word with ё and no mark: its ё), None for none."""
    out = []
    for part in PART.findall(marked):
        vowels, stress, yo = 0, None, None
        for c in part.lower():
            if c == ACUTE and stress is None and vowels:
                stress = vowels - 1
            elif c in VOWELS:
                yo = vowels if c == "ё" and yo is None else yo
                vowels += 1
        letters = re.sub(f"[{ACUTE}{GRAVE}{CIRCUMFLEX}]", "", part.lower()).replace("ё", "е")
        out.append((letters, stress if stress is not None else yo))
    return out


def polysyllables(marked: str) -> list[tuple[str, int]]:
    """The gold words the score counts: two or more syllables, a stress marked."""
    return [(w, s) for w, s in stresses(marked) if s is not None and sum(c in VOWELS for c in w) > 1]


def word_score(stanzas: Sequence[Stanza], predicted: Sequence[Sequence[str]]) -> tuple[int, int]:
    """(right, counted) over the gold polysyllables; a predicted line whose words do not pair with the
    gold's counts its words as wrong."""
    right = counted = 0
    for stanza, lines in zip(stanzas, predicted, strict=True):
        for marked, line in zip(stanza.marked, lines, strict=True):
            gold, ours = stresses(marked), dict(enumerate(stresses(line)))
            for i, (word, stress) in enumerate(gold):
                if stress is None or sum(c in VOWELS for c in word) < 2:
                    continue
                counted += 1
                right += ours.get(i) == (word, stress)
    return right, counted


def gold_meter(marked: str) -> tuple[str, int] | None:
    """The (meter, feet) of the line's one cheapest reading by its marks; None when the marks leave two."""
    kinds: list[int] = []
    last = None
    for word, stress in stresses(marked):
        n = sum(c in VOWELS for c in word)
        if stress is not None:
            last = len(kinds) + stress
        free = n < 2 or stress is None
        kinds += [FREE] * n if free else [STRESS if i == stress else WEAK for i in range(n)]
    if last is None:
        return None
    found = []
    for meter in METERS.values():
        missed = misses(tuple(kinds), last, meter)
        if missed is not None:
            found.append(Reading(meter, (last - meter.anacrusis) // meter.period + 1, last, missed))
    cheapest = [r for r in found if r.cost == min((x.cost for x in found), default=0)]
    return (cheapest[0].meter.name, cheapest[0].feet) if len(cheapest) == 1 else None


def canonical(scheme: str) -> str:
    """A scheme as a partition: letters renamed by first appearance, case dropped ("AbAb" -> "abab")."""
    names: dict[str, str] = {}
    return "".join(c if c == "-" else names.setdefault(c.lower(), chr(ord("a") + len(names))) for c in scheme)


def scan_all(stanzas: Sequence[Stanza]) -> tuple[list[dict], float]:
    """`scan`'s stanzas (as its --json gives them) and the seconds they took."""
    start = time.perf_counter()
    out = [scan_text("\n".join(s.lines)).to_dict()["stanzas"][0] for s in stanzas]
    return out, time.perf_counter() - start


def silero_lines(stanzas: Sequence[Stanza], mark: Callable[[str], str], whole: bool) -> tuple[list, float]:
    """Silero's '+' marks, line by line or a stanza at a time, turned into U+0301 after the vowel."""
    start = time.perf_counter()
    out = []
    for s in stanzas:
        lines = mark("\n".join(s.lines)).split("\n") if whole else [mark(line) for line in s.lines]
        if len(lines) != len(s.lines):  # the pipeline joined or split lines: count them wrong
            lines = [""] * len(s.lines)
        out.append([re.sub(r"\+(.)", lambda m: m.group(1) + ACUTE, line) for line in lines])
    return out, time.perf_counter() - start


def startup(repeats: int) -> dict:
    """Seconds of `pushkin-lm scan --text STANZA` and of `python -c "import torch"`: medians of runs taken
    in turns."""
    exe = shutil.which("pushkin-lm") or str(Path(sys.executable).with_name("pushkin-lm"))
    runs: dict[str, list[float]] = {"scan": [], "torch": []}
    for _ in range(repeats):
        commands = {"scan": [exe, "scan", "--text", STANZA], "torch": [sys.executable, "-c", "import torch"]}
        for name, cmd in commands.items():
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{' '.join(cmd[:2])} failed: {done.stderr.strip()[-500:]}")
            runs[name].append(time.perf_counter() - start)
    scan, torch_ = statistics.median(runs["scan"]), statistics.median(runs["torch"])
    return {"scan_s": round(scan, 2), "import_torch_s": round(torch_, 2), "ratio": round(scan / torch_, 2)}


def measure(stanzas: Sequence[Stanza], with_baseline: bool) -> dict:
    lines = sum(len(s.lines) for s in stanzas)
    scanned, seconds = scan_all(stanzas)
    from pushkin_lm.verse import model_load_seconds

    load_s = model_load_seconds() or 0.0
    right, counted = word_score(stanzas, [[x["stressed"] for x in s["lines"]] for s in scanned])
    meters = [
        (gold, (x["meter"], x["feet"]))
        for s, ours in zip(stanzas, scanned, strict=True)
        for m, x in zip(s.marked, ours["lines"], strict=True)
        if (gold := gold_meter(m)) is not None
    ]
    exact = sum(canonical(s.scheme) == canonical(o["scheme"]) for s, o in zip(stanzas, scanned, strict=True))
    result = {
        "stanzas": len(stanzas),
        "lines": lines,
        "words": counted,
        "scan": {
            "word_stress": round(right / counted, 4),
            "line_meter": round(sum(g == o for g, o in meters) / len(meters), 4),
            "meter_lines": len(meters),
            "rhyme_scheme_exact": round(exact / len(stanzas), 4),
            "s_per_1000_lines": round((seconds - load_s) * 1000 / lines, 2),
            "model_load_s": round(load_s, 2),
        },
    }
    if with_baseline:
        result.update(baselines(stanzas, counted))
    return result


def baselines(stanzas: Sequence[Stanza], counted: int) -> dict:
    """silero-stress itself: its context-free accentor line by line, and its full pipeline by stanza."""
    from silero_stress import load_accentor

    model = load_accentor("ru")
    out = {}
    for name, mark, whole in (("silero_accentor", model.accentor, False), ("silero_pipeline", model, True)):
        marked, seconds = silero_lines(stanzas, mark, whole)
        right, n = word_score(stanzas, marked)
        assert n == counted
        lines = sum(len(s.lines) for s in stanzas)
        out[name] = {"word_stress": round(right / n, 4), "s_per_1000_lines": round(seconds * 1000 / lines, 2)}
    return out


def report(result: dict) -> str:
    scan = result["scan"]
    rows = [
        f"RIFMA: {result['stanzas']} stanzas, {result['lines']} lines, {result['words']} polysyllables "
        f"({result['dropped']} fragments left out)",
        f"scan             word stress {scan['word_stress']:.2%}   line meter {scan['line_meter']:.2%} "
        f"of {scan['meter_lines']}   rhyme scheme exact {scan['rhyme_scheme_exact']:.2%}   "
        f"{scan['s_per_1000_lines']} s/1000 lines (model load {scan['model_load_s']} s)",
    ]
    for name in ("silero_accentor", "silero_pipeline"):
        if name in result:
            r = result[name]
            speed = f"{r['s_per_1000_lines']} s/1000 lines"
            rows.append(f"{name:<16} word stress {r['word_stress']:.2%}  {speed}")
    if "startup" in result:
        s = result["startup"]
        rows.append(
            f"start-up: pushkin-lm scan of one stanza {s['scan_s']} s, import torch {s['import_torch_s']} s, "
            f"ratio {s['ratio']}"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    p.add_argument("--data", type=Path, required=True, help="RIFMA's JSON (a list of fragments)")
    p.add_argument("--limit", type=int, default=None, help="the first N fragments only (default: all)")
    p.add_argument("--no_baseline", action="store_true", help="skip silero's own figures")
    p.add_argument("--repeats", type=int, default=3, help="start-up runs of each command; 0 skips them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if not args.data.is_file():
        fix = "give RIFMA's JSON, e.g. ../shared/data/rifma_dev/rifma_dev.json"
        print(f"error: --data {args.data} is not a file: {fix}", file=sys.stderr)
        sys.exit(2)
    stanzas, dropped = load(args.data, args.limit)
    result = {"dropped": dropped, **measure(stanzas, not args.no_baseline)}
    if args.repeats:
        result["startup"] = startup(args.repeats)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
