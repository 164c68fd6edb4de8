"""Verse in fixed forms: meter, rhyme, real words, copying and speed, beside free samples and Pushkin.

    python bench/verse_quality.py [--stanzas 5] [--forms onegin abab abba aabb] [--meter iamb4] [--json]

For each form, `--stanzas` stanzas from `pushkin_lm.sampling.forms.generate_form` (seeds 1, 2, ..., as
`generate --seed` numbers them), and the same checker over two references:
  - free: unconstrained samples (`pushkin_lm.sampling.sample.generate`, same temperature), their lines cut
    into chunks of the stanza's length: what the model writes in the form by chance;
  - pushkin: real verse from the validation split (the last 10 % of the corpus): its 14-line
    chunks whose dominant meter is iambic tetrameter (Onegin stanzas), and of each such stanza
    lines 1-4 for abab (AbAb), 5-8 for aabb (CCdd) and 9-12 for abba (EffE). Pushkin keeps these
    forms, so most of what the checker misses there is the checker's own error.
The checker: `meter` = lines in the meter and feet (`scan_line`); `meter+ending` = those with the
ending the scheme letter asks (capital feminine, lower case masculine); `rhyme` = required pairs
(each line and the nearest earlier line of its letter) that `rhymes`; `scheme` = stanzas whose
`rhyme_scheme` is the form's exactly; `self_rhymes` = required pairs whose lines end on the same
word; `repeated_openings` = lines whose first two words open another line of the same stanza;
`known` = Cyrillic words found in the training split; `real_words` and `agreement` = words in
pymorphy3's dictionary and adjacent adjective-noun pairs that agree (bench/language.py);
`top_line_end` = the word that ends most lines, and its share of the lines; `copied` =
30-character windows found verbatim in the corpus (for Pushkin's own rows: in the training
split); `s/stanza` = seconds per stanza on one thread, the stress model's loading
reported apart. Last, characters per second of the decoder stepping 32 lanes at once against one
lane, in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter

import torch

from pushkin_lm.core.files import read_text
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.forms import generate_form
from pushkin_lm.sampling.sample import generate
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.verse import (
    model_load_seconds,
    prefetch,
    rhyme_scheme,
    rhymes,
    scan_line,
    scan_stanza,
    split_stanzas,
)
from pushkin_lm.verse.forms import FORMS, parse_meter

from corpus import DEFAULT_DATA, VAL_FRACTION
from language import Language, line_ends

WORD = re.compile(r"[а-яё]+")
COPY_SPAN = 30
PUSHKIN_QUATRAINS = {"abab": slice(0, 4), "aabb": slice(4, 8), "abba": slice(8, 12)}  # in an Onegin stanza


def pairs(scheme: str) -> list[tuple[int, int]]:
    """Each line with the nearest earlier line of its letter."""
    return [(max(j for j in range(i) if scheme[j] == c), i) for i, c in enumerate(scheme) if c in scheme[:i]]


def check(stanzas: list[list[str]], scheme: str, meter: str, feet: int) -> dict:
    """The checker's shares over stanzas that should follow `scheme` in `meter` with `feet`."""
    lines = in_meter = ending = rhymed = required = exact = same = repeated = 0
    for stanza in stanzas:
        openings = Counter(tuple(WORD.findall(line.lower())[:2]) for line in stanza)
        repeated += sum(count for opening, count in openings.items() if count > 1 and len(opening) == 2)
        for line, letter in zip(stanza, scheme, strict=True):
            scan = scan_line(line, meter, feet)
            fits = scan.meter == meter and scan.feet == feet
            lines += 1
            in_meter += fits
            ending += fits and scan.ending == ("feminine" if letter.isupper() else "masculine")
        found = [rhymes(stanza[a], stanza[b]) for a, b in pairs(scheme)]
        rhymed, required = rhymed + sum(found), required + len(found)
        ends = line_ends([stanza])
        same += sum(ends[a] == ends[b] for a, b in pairs(scheme))
        exact += rhyme_scheme(stanza) == scheme
    top_end, top_count = Counter(line_ends(stanzas)).most_common(1)[0]
    return {
        "stanzas": len(stanzas),
        "meter": round(in_meter / max(1, lines), 4),
        "meter_and_ending": round(ending / max(1, lines), 4),
        "rhyme": round(rhymed / max(1, required), 4),
        "scheme": round(exact / max(1, len(stanzas)), 4),
        "self_rhymes": round(same / max(1, required), 4),  # required pairs that end on one word
        "repeated_openings": round(repeated / max(1, lines), 4),
        "top_line_end": top_end,
        "top_line_end_share": round(top_count / max(1, lines), 4),
    }


class Reference:
    """Words of the training split, for known words; 30-character strings of `copied_from`; and
    pymorphy3's dictionary, for real words and agreement."""

    def __init__(self, train: str, copied_from: str, language: Language) -> None:
        self.words = set(WORD.findall(train.lower()))
        self.spans = {copied_from[i : i + COPY_SPAN] for i in range(len(copied_from) - COPY_SPAN + 1)}
        self.language = language

    def shares(self, texts: list[str]) -> dict:
        words = [w for t in texts for w in WORD.findall(t.lower())]
        spans = [t[i : i + COPY_SPAN] for t in texts for i in range(len(t) - COPY_SPAN + 1)]
        return {
            "known": round(sum(w in self.words for w in words) / max(1, len(words)), 4),
            "copied": round(sum(s in self.spans for s in spans) / max(1, len(spans)), 4),
            **self.language.shares(texts),
        }


def generated(
    decoder: Decoder, vocab: CharVocab, form: str, meter: str, n: int, settings: dict
) -> tuple[list[list[str]], float]:
    """`n` stanzas of `form` (seeds 1..n) and the seconds each took on average."""
    stanzas, start = [], time.perf_counter()
    for seed in range(1, n + 1):
        text = "".join(generate_form(decoder, vocab, "", SampleConfig(seed=seed, **settings), form, meter))
        stanzas.append(text.rstrip("\n").split("\n"))
    return stanzas, (time.perf_counter() - start) / max(1, n)


def free_chunks(
    decoder: Decoder, vocab: CharVocab, size: int, n: int, settings: dict
) -> tuple[list[list[str]], list[str]]:
    """`n` chunks of `size` consecutive verse lines from free samples, and the samples' text."""
    lines: list[str] = []
    texts: list[str] = []
    seed = 1000
    while len(lines) < n * size:
        config = SampleConfig(max_tokens=3000, seed=seed, **settings)
        texts.append("".join(generate(decoder, vocab, "", config)))
        lines += [line for stanza in split_stanzas(texts[-1]) for line in stanza]
        seed += 1
    return [lines[i * size : (i + 1) * size] for i in range(n)], texts


def pushkin_stanzas(val: str, meter: str, feet: int) -> list[list[str]]:
    """14-line chunks of the validation split's stanzas whose dominant meter is `meter` `feet`."""
    chunks = [s[i : i + 14] for s in split_stanzas(val) if len(s) % 14 == 0 for i in range(0, len(s), 14)]
    out = []
    for chunk in chunks:
        scan = scan_stanza(chunk)
        metered = [(x.meter, x.feet) for x in scan.lines]
        if max(set(metered), key=metered.count) == (meter, feet):
            out.append(chunk)
    return out


def lane_speedup(
    decoder: Decoder, vocab: CharVocab, lanes: int = 32, steps: int = 40, repeats: int = 5
) -> dict:
    """Characters per second: `lanes` lanes stepped at once against one lane, best of `repeats`
    each, interleaved so that both see the same machine; fork and return included."""
    ids = vocab.encode("\n\n</s>\n\nМой дядя самых честных правил,\n")
    one = many = float("inf")
    for _ in range(repeats):
        decoder.read(ids)
        start = time.perf_counter()
        for _ in range(steps):
            decoder.step(ids[-2])
        one = min(one, time.perf_counter() - start)
        start = time.perf_counter()
        decoder.fork(lanes)
        for _ in range(steps):
            decoder.step_many(torch.full((lanes,), ids[-2]))
        decoder.unfork()
        many = min(many, time.perf_counter() - start)
    one_rate, many_rate = steps / one, steps * lanes / many
    return {"lanes": lanes, "one_lane_chars_s": round(one_rate), "lanes_chars_s": round(many_rate),
            "speedup": round(many_rate / one_rate, 2)}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    size = parse_meter(args.meter)
    checkpoint = load_checkpoint(args.checkpoint)
    decoder, vocab = Decoder(checkpoint.model), checkpoint.vocab
    corpus = read_text(args.data)
    train, val = split_train_val(corpus, VAL_FRACTION)
    language = Language()
    reference = Reference(train, corpus, language)  # generated text: copies of anything in the corpus
    held_out = Reference(train, train, language)  # Pushkin's validation text: copies of the training split
    start = time.perf_counter()
    prefetch(["мой", "дядя"])  # the stress model loads here, not in the first stanza's time
    stress_load = model_load_seconds() or time.perf_counter() - start
    settings = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    pushkin = pushkin_stanzas(val, size.name, size.feet)
    rows = []
    for form in args.forms:
        scheme = FORMS[form]
        stanzas, seconds = generated(decoder, vocab, form, args.meter, args.stanzas, settings)
        free, free_texts = free_chunks(decoder, vocab, len(scheme), args.stanzas, settings)
        real = [s[PUSHKIN_QUATRAINS[form]] for s in pushkin] if form in PUSHKIN_QUATRAINS else pushkin
        texts = ["\n".join(s) for s in stanzas]
        rows += [
            {"form": form, "source": "generated", **check(stanzas, scheme, size.name, size.feet),
             **reference.shares(texts), "seconds_per_stanza": round(seconds, 2)},
            {"form": form, "source": "free", **check(free, scheme, size.name, size.feet),
             **reference.shares(free_texts)},
            {"form": form, "source": "pushkin", **check(real, scheme, size.name, size.feet),
             **held_out.shares(["\n".join(s) for s in real])},
        ]  # fmt: skip
        if args.show:
            print("\n\n".join(texts), end="\n\n", flush=True)
    return {"meter": args.meter, **settings, "stress_model_load_s": round(stress_load, 2),
            "lane_speed": lane_speedup(decoder, vocab), "rows": rows}  # fmt: skip


SHARES = ("meter", "meter_and_ending", "rhyme", "scheme", "self_rhymes", "repeated_openings", "known",
          "real_words", "agreement", "copied")  # fmt: skip


def table(result: dict) -> str:
    columns = ("form source stanzas meter meter+ending rhyme_pairs scheme_exact self_rhymes repeated_openings"
               " known real_words agreement copied top_line_end s/stanza").split()  # fmt: skip
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * 2 + "---:|" * (len(columns) - 2)]
    for r in result["rows"]:
        seconds = f"{r['seconds_per_stanza']:.2f}" if "seconds_per_stanza" in r else ""
        shares = [f"{r[k]:.1%}" for k in SHARES]
        top = f"{r['top_line_end']} {r['top_line_end_share']:.1%}"
        cells = [r["form"], r["source"], str(r["stanzas"]), *shares, top, seconds]
        out.append("| " + " | ".join(cells) + " |")
    lanes = result["lane_speed"]
    out.append(
        f"\nstress model loaded in {result['stress_model_load_s']:.2f} s; decoder, {lanes['lanes']} lanes at "
        f"once: {lanes['lanes_chars_s']:,} chars/s against {lanes['one_lane_chars_s']:,} for one lane "
        f"({lanes['speedup']:.1f}x)"
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stanzas", type=int, default=5, help="stanzas per form (and reference chunks)")
    parser.add_argument("--forms", nargs="+", choices=sorted(FORMS), default=list(FORMS))
    parser.add_argument("--meter", default="iamb4", help="meter and feet, e.g. iamb4, trochee4")
    parser.add_argument("--temperature", type=float, default=SampleConfig.temperature)
    parser.add_argument("--top_k", type=int, default=None)
    parser.add_argument("--top_p", type=float, default=None)
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the corpus: train split and validation")
    parser.add_argument("--show", action="store_true", help="print the generated stanzas too")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(args)
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
