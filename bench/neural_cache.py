"""How much local repetition a model leaves unused: a neural cache over its own features.

    python bench/neural_cache.py [--checkpoint CK] [--data train.txt] [--windows 250 2000 20000] [--json]

Reads the validation split (the last 10 % of train.txt) in one stream with carried state and
keeps, for every position, the network's last features (the input of its final LayerNorm) and
the character that came next. The continuous cache of Grave et al. (2017) then predicts each
character from the `window` positions before it: a softmax over `theta` times the cosine
similarity of their features to the current ones, each voting for the character that followed
it, mixed with the model as (1 - mix) * model + mix * cache. No weight changes and nothing is
read before it is predicted, so the cached score is a fair language-model score; what it gains
over the model alone is repetition within the text ("what came next last time") that the
network does not exploit itself. Prints the best (theta, mix) per window.
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch
import torch.nn.functional as F

from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.network import Network
from pushkin_lm.model.scorer import predictions
from pushkin_lm.store.checkpoint import load_checkpoint

from corpus import DEFAULT_DATA, VAL_FRACTION

QUERY_BLOCK = 1000  # queries scored at once: bounds the similarity matrix's memory


@torch.no_grad()
def features_and_probs(
    model: Network, ids: torch.Tensor, temperature: float, chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-length features (n, hidden) at ids[:-1], and the calibrated probability (n,) given to
    each of ids[1:], read as one stream in chunks with carried state."""
    captured = []
    hook = model.ln_out.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0][0]))
    probs = []
    try:
        for logits, targets in predictions(model, ids, max_streams=1, chunk_size=chunk_size):
            probs.append(F.softmax(logits[0] / temperature, dim=-1).gather(1, targets[0, :, None])[:, 0])
    finally:
        hook.remove()
    return F.normalize(torch.cat(captured).float(), dim=1), torch.cat(probs)


def cache_probs(features: torch.Tensor, targets: torch.Tensor, window: int, theta: float) -> torch.Tensor:
    """The cache's probability (n,) of each target: the weight of positions t - window .. t - 1
    whose next character was the same."""
    n = len(targets)
    result = torch.zeros(n)
    for start in range(0, n, QUERY_BLOCK):
        end, first = min(n, start + QUERY_BLOCK), max(0, start - window)
        query, key = torch.arange(start, end)[:, None], torch.arange(first, end)[None, :]
        visible = (key < query) & (query - key <= window)
        scores = (theta * features[start:end] @ features[first:end].T).masked_fill(~visible, float("-inf"))
        weights = torch.softmax(scores, dim=1).nan_to_num(0.0)  # the first position sees nothing
        same_next = targets[first:end][None, :] == targets[start:end, None]
        result[start:end] = (weights * same_next).sum(dim=1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="train.txt of the corpus")
    parser.add_argument("--windows", type=int, nargs="+", default=[250, 2000, 20000], help="cache sizes")
    parser.add_argument("--thetas", type=float, nargs="+", default=[10.0, 20.0], help="similarity sharpness")
    parser.add_argument("--mixes", type=float, nargs="+", default=[0.05, 0.1, 0.15], help="cache weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(2)
    ckpt = load_checkpoint(args.checkpoint)
    _, val = split_train_val(read_text(args.data), VAL_FRACTION)
    ids = torch.tensor(ckpt.vocab.encode(val))
    features, model_probs = features_and_probs(ckpt.model, ids, ckpt.temperature)
    targets = ids[1:]
    static = float(-model_probs.log().mean())

    results = []
    for window, theta in itertools.product(args.windows, args.thetas):
        cached = cache_probs(features, targets, window, theta)
        for mix in args.mixes:
            nats = float(-((1 - mix) * model_probs + mix * cached).log().mean())
            results.append({"window": window, "theta": theta, "mix": mix, "nats_per_char": nats})
    best = {
        w: min((r for r in results if r["window"] == w), key=lambda r: r["nats_per_char"])
        for w in args.windows
    }
    if args.json:
        print(json.dumps({"model_nats_per_char": static, "grid": results}, indent=2))
        return
    print(f"validation, one stream, {len(targets):,} characters: model alone {static:.4f} nats/char")
    print("| cache window | best theta | best mix | with cache | gain |")
    print("|---:|---:|---:|---:|---:|")
    for window, row in best.items():
        gain = static - row["nats_per_char"]
        print(f"| {window:,} | {row['theta']:g} | {row['mix']:g} | {row['nats_per_char']:.4f} | {gain:.4f} |")


if __name__ == "__main__":
    main()
