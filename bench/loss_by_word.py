"""Where the validation loss goes: characters of known words, of new words, and the rest.

    python bench/loss_by_word.py [--checkpoint CK] [--data train.txt] [--adapt_lr 3e-4] [--json]

Reads the validation split (the last 10 % of train.txt) with the shipped model (or
--checkpoint) in one stream with carried state, and splits each character's loss by what the
character belongs to: a Cyrillic word that also occurs in the training split ("known"), one that
never does ("new"), or anything else (spaces, punctuation, line breaks, Latin). It then prints
what the mean would be if new words cost only as much per character as known ones: a floor that
better spelling of new words alone could not break.
"""

from __future__ import annotations

import argparse
import json
import re

import torch
import torch.nn.functional as F

from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model import scorer
from pushkin_lm.model.network import Network
from pushkin_lm.store.checkpoint import load_checkpoint

from corpus import DEFAULT_DATA, VAL_FRACTION

WORD = re.compile(r"[а-яёА-ЯЁ]+")


def char_losses(
    model: Network, ids: torch.Tensor, temperature: float, chunk_size: int = 1024, adapt_lr: float = 0.0
) -> torch.Tensor:
    """The calibrated loss of each of `ids[1:]`, read as one stream in chunks with carried state.

    With `adapt_lr` > 0 this is dynamic evaluation (Krause et al., 2018): after scoring a chunk
    the model takes one Adam step on it, so each chunk is predicted by a model that has read all
    the text before it, and no character is learnt from before it is scored.
    """
    if not adapt_lr:
        return scorer.char_losses(model, ids, temperature, max_streams=1, chunk_size=chunk_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=adapt_lr)
    losses = []
    for logits, targets in scorer.predictions(model, ids, max_streams=1, chunk_size=chunk_size, grad=True):
        loss = F.cross_entropy(logits[0] / temperature, targets[0], reduction="none")
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()  # before the next chunk is read
        losses.append(loss.detach())
    return torch.cat(losses)


def char_kinds(text: str, known_words: set[str]) -> list[str]:
    kinds = ["other"] * len(text)
    for match in WORD.finditer(text):
        kind = "known" if match.group().lower() in known_words else "new"
        kinds[match.start() : match.end()] = [kind] * len(match.group())
    return kinds


def breakdown(losses: torch.Tensor, kinds: list[str]) -> dict:
    """The loss split by kind of character, and what the mean would be if new words cost as known ones."""
    rows, masks = {}, {}
    for kind in ("known", "new", "other"):
        mask = masks[kind] = torch.tensor([k == kind for k in kinds])
        rows[kind] = {
            "chars": int(mask.sum()),
            "share_of_chars": float(mask.float().mean()),
            "nats_per_char": float(losses[mask].mean()),
            "share_of_loss": float(losses[mask].sum() / losses.sum()),
        }
    floor = losses.clone()
    floor[masks["new"]] = rows["known"]["nats_per_char"]
    return {
        "by_kind": rows,
        "if_new_words_cost_as_much_as_known": float(floor.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="train.txt of the corpus")
    parser.add_argument(
        "--adapt_lr",
        type=float,
        default=0.0,
        help="dynamic evaluation: an Adam step of this size after each 64-character chunk (try 3e-4)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(2)
    ckpt = load_checkpoint(args.checkpoint)
    train, val = split_train_val(read_text(args.data), VAL_FRACTION)
    chunk_size = 64 if args.adapt_lr else 1024  # adapting often is what makes it pay
    ids = torch.tensor(ckpt.vocab.encode(val))
    losses = char_losses(ckpt.model, ids, ckpt.temperature, chunk_size, args.adapt_lr)
    kinds = char_kinds(val, {w.lower() for w in WORD.findall(train)})[1:]  # the predicted ones

    result = {"nats_per_char": float(losses.mean()), "adapt_lr": args.adapt_lr, **breakdown(losses, kinds)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    reading = f"dynamic evaluation, Adam {args.adapt_lr:g}" if args.adapt_lr else "one stream"
    print(f"validation, {reading}: {result['nats_per_char']:.4f} nats/char over {len(losses):,} characters")
    print("| characters of | count | share | nats/char | share of the loss |")
    print("|---|---:|---:|---:|---:|")
    for kind, row in result["by_kind"].items():
        print(
            f"| {kind} | {row['chars']:,} | {100 * row['share_of_chars']:.1f} % | "
            f"{row['nats_per_char']:.3f} | {100 * row['share_of_loss']:.1f} % |"
        )
    floor = result["if_new_words_cost_as_much_as_known"]
    print(f"if new words cost as much per character as known ones: {floor:.4f} nats/char")


if __name__ == "__main__":
    main()
