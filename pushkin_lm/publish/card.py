"""The model card: the README.md that makes a checkpoint folder a Hugging Face Hub model repo.

Its YAML header is what the Hub indexes (language, licence, library, tags, dataset, and the
validation figures as `model-index`); its body says what the network is, shows verse the model
itself wrote, and how to use it. It is built with huggingface_hub's `ModelCard`, `ModelCardData`
and `EvalResult`, so the Hub reads it back exactly; every figure comes from the checkpoint's
own metadata, never typed in. `PushkinLM.save_pretrained` (publish/pretrained.py) writes it.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.network import Network
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate
from pushkin_lm.store.hub import DATASET_FILE, DATASET_REPO, LIBRARY

LICENSE = "mit"
TAGS = ("text-generation", "char-level", "lstm", "attention", "poetry", "russian", "pushkin")
SAMPLE = SampleConfig(max_tokens=300, temperature=0.8, seed=7)  # the card's verse, reproducible
PROMPT = "Мороз и солнце"  # the usage examples' prompt
DATASET_URL = f"https://huggingface.co/datasets/{DATASET_REPO}"
TRAIN_SETTINGS = ("batch_size", "block_size", "learning_rate", "weight_decay", "ema_decay", "seed")

BODY = """
# {title}

A character-level language model of {subject}, {params:,} parameters over {vocab_size} characters:

{architecture}.

It writes Russian verse one character at a time, streaming it as it goes, and scores text in nats (or
bits) per character. It is made, loaded and published with pushkin-lm; this repo is one of its
checkpoint folders.

## Results

{results}

## Sample

Written by this model from an empty prompt (temperature {temperature}, seed {seed}, {chars} characters,
int8 weights); this prints the same text:

```bash
pushkin-lm generate --checkpoint {reference} --temperature {temperature} --max_tokens {chars} --seed {seed}
```

The last line stops where the characters run out; `</s>` is the corpus's own mark between poems.

```text
{sample}
```

## Usage

Install pushkin-lm from a checkout of its source:

```bash
pip install .
```

Write and score verse from the command line (a Hub model is downloaded once into the Hugging Face cache
and read from there afterwards, offline too):

```bash
pushkin-lm generate --checkpoint {reference} --prompt "{prompt}" --max_tokens 300
pushkin-lm evaluate --checkpoint {reference} --data poems.txt
```

From Python:

```python
from pushkin_lm import PushkinLM

model = PushkinLM.from_pretrained("{reference}")
print(model.generate("{prompt}", max_tokens=300, seed=7))
print(model.stanza("onegin", seed=1))           # fourteen lines of iambic tetrameter, AbAbCCddEffEgg
print(model.score("Мороз и солнце; день чудесный!").bits_per_char)
```

`model` is a torch module that carries its vocabulary (`model.vocab`), calibration temperature and
training metadata; `model.save_pretrained(folder)` and `model.push_to_hub("owner/name")` write and
publish it with a card like this one.

## Training

{training}
{sources}
## Files

- `config.json`: the pushkin-lm checkpoint format (`format`, `format_version`), the network's sizes, the
  vocabulary and the training metadata these figures come from;
- `model.safetensors`: the weights ({dtype}) and the calibration temperature;
- `README.md`: this card, written by pushkin-lm.

Nothing here is pickled. Licence: MIT.
"""


def write_sample(model: Network, vocab: CharVocab, settings: SampleConfig = SAMPLE) -> str:
    """Verse the model writes from an empty prompt: the card shows the model, not a description of it.
    One thread, as `pushkin-lm generate` samples, so that the command the card gives prints the same."""
    if next(model.parameters()).device.type != "cpu":  # the decoder's int8 kernels are the CPU's
        cpu = Network(model.cfg)
        cpu.load_state_dict(model.state_dict())
        model = cpu
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return "".join(generate(Decoder(model), vocab, "", settings))
    finally:
        torch.set_num_threads(threads)


def on_hub_corpus(meta: dict) -> bool:
    """Whether training read the Hub's Pushkin corpus (a local copy of it counts), not some other text."""
    return DATASET_REPO in str(meta.get("data_source", f"hf://datasets/{DATASET_REPO}"))


def eval_results(meta: dict) -> list[EvalResult]:
    """The validation figures as the Hub's model-index reads them: nats/char and bits/char."""
    nats = meta.get("val_nats_per_char")
    if not isinstance(nats, int | float) or not math.isfinite(nats):
        return []
    hub = on_hub_corpus(meta)
    dataset = {
        "task_type": "text-generation",
        "task_name": "Character-level language modelling",
        "dataset_type": DATASET_REPO if hub else "text",
        "dataset_name": data_name(meta),
        "dataset_split": "validation",
    }
    return [
        EvalResult(**dataset, metric_type="nats_per_char", metric_name="nats/char", metric_value=float(nats)),
        EvalResult(
            **dataset, metric_type="bits_per_char", metric_name="bits/char", metric_value=nats / math.log(2)
        ),
    ]


def data_name(meta: dict) -> str:
    """What the validation figures were measured on, in a few words."""
    if on_hub_corpus(meta):
        return f"Pushkin's verse ({DATASET_REPO})"
    sources = str(meta["data_source"]).split()
    if len(sources) > 1:
        return f"a mixture of {len(sources)} sources (share-weighted)"
    return Path(sources[0]).name


def card_data(meta: dict, model_name: str) -> ModelCardData:
    """The card's YAML header."""
    results = eval_results(meta)
    return ModelCardData(
        language="ru",
        license=LICENSE,
        library_name=LIBRARY,
        pipeline_tag="text-generation",
        tags=list(TAGS),
        datasets=[DATASET_REPO] if on_hub_corpus(meta) else None,
        model_name=model_name,
        eval_results=results or None,
    )


def describe_network(model: Network) -> str:
    """The network in one line, from its config."""
    cfg = model.cfg
    text = f"character embedding ({cfg.embed_dim}) → LSTM ({cfg.num_layers} × {cfg.hidden_size})"
    if cfg.attention:
        keys = ", keys shifted by one" if cfg.shift_keys else ""
        text += f" → causal self-attention ({cfg.num_heads} heads over {cfg.attn_window} characters{keys})"
        if cfg.ffn_mult:
            text += f" → feed-forward ({cfg.ffn_mult} × {cfg.hidden_size})"
    return text + " → next-character softmax"


def describe_results(meta: dict, temperature: float) -> str:
    """The validation figures as a table, and what they were measured on."""
    nats = meta.get("val_nats_per_char")
    if not isinstance(nats, int | float) or not math.isfinite(nats):
        return "This checkpoint records no validation figures."
    train = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    share = f"{train.get('val_fraction', 0.1):.0%}".replace("%", " %")
    text = f"`{DATASET_FILE}` of [`{DATASET_REPO}`]({DATASET_URL})" if on_hub_corpus(meta) else "its text"
    if isinstance(meta.get("temperature"), int | float):
        temperature = meta["temperature"]  # the one the figures were measured at, before float16 storage
    return (
        "| split | nats/char | bits/char |\n|---|---|---|\n"
        f"| validation | {nats:.4f} | {nats / math.log(2):.4f} |\n\n"
        f"Validation is the last {share} of {text}, which training never sees. Scores divide the network's "
        f"logits by its calibration temperature ({temperature:.3f}), fitted on a held-out tail of the "
        "training split; sampling's `--temperature` divides the network's own logits."
    )


def describe_training(meta: dict) -> str:
    """How the checkpoint was trained, from the settings and figures its metadata records."""
    train = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    source = (
        f"`{DATASET_FILE}` of `{DATASET_REPO}`" if on_hub_corpus(meta) else f"`{meta.get('data_source')}`"
    )
    parts = []
    if isinstance(meta.get("train_chars"), int):
        parts.append(f"{meta['train_chars']:,} training characters")
    if isinstance(meta.get("step"), int):
        parts.append(f"{meta['step']:,} steps")
    if isinstance(meta.get("elapsed_s"), int | float):
        parts.append(f"{meta['elapsed_s'] / 60:.0f} minutes")
    text = f"Trained on {source}" + (f": {', '.join(parts)}." if parts else ".")
    chosen = ", ".join(f"`{name}` {train[name]}" for name in TRAIN_SETTINGS if name in train)
    if chosen:
        text += f" Settings: {chosen} (AdamW; `config.json` holds them all)."
    if meta.get("trained_on"):
        text += f" Hardware: {meta['trained_on']}."
    return text


def build_card(
    model: Network,
    vocab: CharVocab,
    meta: dict,
    temperature: float,
    repo_id: str | None = None,
    reference: str | None = None,
    sample: str | None = None,
    sources: str | None = None,
) -> ModelCard:
    """The card of a model: header from its metadata, a sample it writes (unless given), usage that
    names `reference` (default: `repo_id`, else the local folder name a reader would pass), and
    `sources`, markdown that lists the training text's sources and licences, under Training."""
    reference = reference or repo_id or "checkpoints/pushkin-lm"
    title = repo_id or Path(reference).name
    body = BODY.format(
        title=title,
        subject="Pushkin's verse" if on_hub_corpus(meta) else "the text described under Training",
        architecture=describe_network(model),
        params=model.num_params(),
        vocab_size=len(vocab),
        results=describe_results(meta, temperature),
        temperature=SAMPLE.temperature,
        seed=SAMPLE.seed,
        chars=SAMPLE.max_tokens,
        reference=reference,
        sample=write_sample(model, vocab) if sample is None else sample,
        prompt=PROMPT,
        training=describe_training(meta),
        sources=f"\n### Training data\n\n{sources.strip()}\n" if sources else "",
        dtype="float16" if meta.get("weights_dtype") == "float16" else "float32",
    )
    data = card_data(meta, title)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
