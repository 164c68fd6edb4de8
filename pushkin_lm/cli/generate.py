"""`pushkin-lm generate`: write verse, free or in a stanza form, streaming it to stdout."""

from __future__ import annotations

import argparse
import sys

from pushkin_lm.cli.common import check_stdout_encodes, checkpoint_flag
from pushkin_lm.core.files import MAX_PROMPT_BYTES, read_text
from pushkin_lm.core.settings import add_flag, add_flags, given, whole_number
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.verse.forms import FORMS, FREE_VERSE, chosen_form
from pushkin_lm.verse.meter import METERS

DESCRIPTION = "Write verse with a trained model, streaming it to stdout as it is sampled."


def flags(p: argparse.ArgumentParser) -> None:
    checkpoint_flag(p)
    add_flag(p, "prompt", default="", may_be_empty=True, help="text to continue (printed first)")
    add_flag(p, "prompt_file", help="read the prompt from this UTF-8 file (or /dev/stdin)")
    add_flags(p, SampleConfig)
    add_flag(
        p,
        "form",
        choices=(FREE_VERSE, *FORMS),
        default=FREE_VERSE,
        help="free: unconstrained text of --max_tokens characters; onegin (14 lines AbAbCCddEffEgg), "
        "abab, abba, aabb (quatrains AbAb, AbbA, AAbb): one stanza, each line in --meter, capitals "
        "rhyming on a feminine ending, lower case on a masculine one; the prompt's lines count",
    )
    add_flag(
        p,
        "meter",
        help=f"with a stanza --form: the meter and its feet, one of {', '.join(METERS)} followed by "
        "1-9 (default: iamb4, Onegin's iambic tetrameter)",
    )
    add_flag(p, "num_samples", type=whole_number(1), default=1, help="how many texts to write")
    add_flag(
        p,
        "precision",
        choices=("int8", "float32"),
        default="int8",
        help="weights while sampling: int8 is 2-3x faster, float32 is exactly the trained model",
    )


def run(args: argparse.Namespace) -> None:
    settings = SampleConfig(**given(args, SampleConfig))
    form = chosen_form(args.form, args.meter)  # a bad --form or --meter fails before the model loads
    check_stdout_encodes()  # before the model loads, not after the first line of verse
    prompt = args.prompt
    if args.prompt_file:
        prompt = read_text(args.prompt_file, MAX_PROMPT_BYTES, "prompt")

    import torch

    from pushkin_lm.model.decoder import Decoder
    from pushkin_lm.sampling.forms import generate_form
    from pushkin_lm.sampling.sample import check_prompt, generate
    from pushkin_lm.store.checkpoint import load_checkpoint

    torch.set_num_threads(1)  # one character at a time is too small to share across threads
    checkpoint = load_checkpoint(args.checkpoint)
    decoder, vocab = Decoder(checkpoint.model, int8=args.precision == "int8"), checkpoint.vocab
    check_prompt(vocab, prompt)  # before the prompt is echoed
    out = sys.stdout
    for i in range(args.num_samples):
        if i:
            out.write("\n\n" + "-" * 40 + "\n\n")
        seed = None if settings.seed is None else (settings.seed + i) % 2**64
        config = SampleConfig(**{**vars(settings), "seed": seed})
        if form is None:  # free verse: the character stream, as always
            pieces = generate(decoder, vocab, prompt, config)
        else:  # a stanza, streamed line by line; a prompt it cannot continue is refused here
            pieces = generate_form(decoder, vocab, prompt, config, *form)
        out.write(prompt)  # only once the prompt has been accepted
        for piece in pieces:
            out.write(piece)
            out.flush()
        if form is None:
            out.write("\n")
