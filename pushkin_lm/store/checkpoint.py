"""Checkpoints: a folder with `model.safetensors` (weights) and `config.json` (the rest).

`config.json` holds the format tag and version, the model config, the vocabulary and free-form
metadata (training step, validation loss, data source); `model.safetensors` holds the network's
weights and, beside them, the calibration temperature that scoring divides its logits by.
Nothing is ever unpickled. Configs of earlier format versions are brought up to date by one
function, `upgrade_config`, and nowhere else. A checkpoint that names no folder here but reads
`owner/name` is a Hugging Face Hub model repo, fetched once into the Hub cache (store/hub.py).
A folder is written atomically (core/files.py): a crash leaves the old checkpoint or the new one.

The shipped models are package data: in a source checkout they are `checkpoints/`, in an
installed wheel `pushkin_lm/shipped/` (pyproject.toml maps the one to the other).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import aside_path, in_the_way, read_bytes_bounded, why_absent, write_dir_atomically
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.memory import FLOAT_BYTES, generation_bytes, param_count, require_memory
from pushkin_lm.model.network import Network
from pushkin_lm.store.hub import download_model, looks_like_repo_id
from pushkin_lm.store.integrity import DAMAGED, TEMPERATURE, check_weights, metadata, model_config, vocabulary
from pushkin_lm.store.layout import BEST, CHECKPOINT_FILES, CONFIG_FILE, WEIGHTS_FILE

FORMAT = "pushkin-lm-checkpoint"
FORMAT_VERSION = 2
MAX_CONFIG_BYTES = 16 * 2**20  # a config.json is a few kilobytes; anything near this is not one
_CHECKOUT = Path(__file__).resolve().parents[2] / "checkpoints"
SHIPPED_DIR = _CHECKOUT if _CHECKOUT.is_dir() else Path(__file__).resolve().parents[1] / "shipped"
SHIPPED = SHIPPED_DIR / "pushkin-lm"  # the default model: Pushkin's verse, fine-tuned from the base
# Short names of the shipped models, for --checkpoint and --init_from: `--init_from base`.
SHIPPED_NAMES = {"pushkin-lm": SHIPPED, "base": SHIPPED_DIR / "ru-verse-base"}


@dataclass
class Checkpoint:
    model: Network
    vocab: CharVocab
    meta: dict
    path: Path
    temperature: float = 1.0  # scoring divides the network's logits by it; 1 where none was fitted


def save_checkpoint(
    path: str | Path,
    model: Network,
    vocab: CharVocab,
    meta: dict,
    temperature: float = 1.0,
    extra_files: dict[str, bytes] | None = None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write weights, calibration temperature, config, vocabulary and `meta` to folder `path`,
    atomically, with `extra_files` (name: bytes) beside them.

    `dtype=torch.float16` halves the file (the shipped model is stored so); loading always
    gives float32 weights.
    """
    from safetensors.torch import save

    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.cfg.to_json(),
        "vocab": vocab.to_json(),
        "meta": meta,
    }
    weights = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    weights[TEMPERATURE] = torch.tensor(temperature, dtype=dtype)
    files = {
        WEIGHTS_FILE: save(weights),
        CONFIG_FILE: json.dumps(config, ensure_ascii=False, indent=2).encode("utf-8"),
        **(extra_files or {}),
    }
    write_dir_atomically(Path(path), files)


def hub_repo_id(path: str | Path | None) -> str | None:
    """`path` as a Hugging Face Hub model repo id: only where it names nothing here and reads
    `owner/name`, and no file here is its `owner` (notes.txt/best is a path under a file)."""
    if path is None or Path(path).exists() or aside_path(Path(path)).is_dir() or in_the_way(path):
        return None
    return str(path) if looks_like_repo_id(str(path)) else None


def resolve_checkpoint_dir(path: str | Path | None) -> Path:
    """The checkpoint folder meant by `path`: itself, `path/best` of a training run, the local
    snapshot of Hub model repo `owner/name` (downloaded once, then read from the Hub cache), a
    shipped model by its short name, or (None) the default shipped model."""
    if (repo_id := hub_repo_id(path)) is not None:
        return download_checkpoint(repo_id)
    path = SHIPPED if path is None else Path(path)
    if not path.exists() and str(path) in SHIPPED_NAMES:
        path = SHIPPED_NAMES[str(path)]  # a short name, where no folder of that name is here
    if not path.exists() and aside_path(path).is_dir():
        return aside_path(path)  # a crash interrupted a save: the previous version is intact
    if not path.exists():
        raise PushkinLMError(
            f"checkpoint {path} {why_absent(path)}; pass --checkpoint with a checkpoint folder, "
            f"a training run's --out folder, a Hugging Face Hub model owner/name or a shipped model's "
            f"name ({', '.join(SHIPPED_NAMES)})"
        )
    if not path.is_dir():
        raise PushkinLMError(
            f"checkpoint {path} is a file; pass the folder that holds {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    if not (path / CONFIG_FILE).exists() and (path / BEST).exists():
        return resolve_checkpoint_dir(path / BEST)
    return path


def download_checkpoint(repo_id: str, **options: Any) -> Path:
    """The local snapshot of Hub model repo `repo_id`'s checkpoint files (`options`: see
    `hub.download_model`), refusing a repo that is not a pushkin-lm checkpoint."""
    folder = download_model(repo_id, CHECKPOINT_FILES, **options)
    if not (folder / CONFIG_FILE).is_file():
        raise PushkinLMError(
            f"Hub model repo {repo_id} holds no {CONFIG_FILE}, so it is not a pushkin-lm model; "
            "pass --checkpoint with a repo that pushkin-lm push published, or a local checkpoint folder"
        )
    return folder


def read_config(path: Path) -> dict:
    """The parsed, validated `config.json` of checkpoint folder `path`."""
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise PushkinLMError(
            f"{path} is not a pushkin-lm checkpoint (no {CONFIG_FILE}); "
            "pass --checkpoint with a folder written by pushkin-lm training"
        )
    try:
        config = json.loads(read_bytes_bounded(config_path, MAX_CONFIG_BYTES, CONFIG_FILE).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise PushkinLMError(f"{config_path} is not valid JSON ({err}); {DAMAGED}") from None
    except ValueError:  # json's int() refuses a number of more than 4,300 digits, which no setting is
        raise PushkinLMError(
            f"{config_path} holds a number of over 4,300 digits, which no setting has; {DAMAGED}"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise PushkinLMError(
            f"{path} is not a pushkin-lm checkpoint (its {CONFIG_FILE} has no "
            f"'format': '{FORMAT}'); pass a folder written by pushkin-lm training"
        )
    version = config.get("format_version")
    if type(version) is not int or version < 1:  # not isinstance: true is no version
        raise PushkinLMError(f"{config_path} has a bad format_version {version!r}; {DAMAGED}")
    if version > FORMAT_VERSION:
        raise PushkinLMError(
            f"{path} was written by a newer pushkin-lm (format {version}, this one reads "
            f"{FORMAT_VERSION}); upgrade pushkin-lm to load it"
        )
    return upgrade_config(config)


def upgrade_config(config: dict) -> dict:
    """A config.json of an earlier format version, as this version writes it.

    Version 1 (until keys were shifted and the output folder setting was renamed) left out
    settings that had not been invented yet: a checkpoint without `shift_keys` has unshifted
    keys, and a run without weight averaging or calibration was trained without them.
    """
    if config["format_version"] < 2:
        meta = dict(config.get("meta") or {}) if isinstance(config.get("meta"), dict) else {}
        train = meta.get("train_config")
        if isinstance(train, dict):
            train = {"ema_decay": 0.0, "calib_fraction": 0.0, **train}
            if "out_dir" in train:
                train["out"] = train.pop("out_dir")
            meta["train_config"] = train
        model = config.get("model")
        if isinstance(model, dict):
            model = {"shift_keys": False, **model}
        config = {**config, "format_version": 2, "model": model, "meta": meta}
    return config


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> Checkpoint:
    """The model (in eval mode), vocabulary and metadata stored in checkpoint folder `path`,
    every value of its two files checked first (store/integrity.py)."""
    path = resolve_checkpoint_dir(path)
    config = read_config(path)
    cfg, vocab = model_config(config, path / CONFIG_FILE), vocabulary(config, path / CONFIG_FILE)
    meta = metadata(config, path / CONFIG_FILE)
    if len(vocab) != cfg.vocab_size:
        raise PushkinLMError(
            f"{path}: the vocabulary has {len(vocab)} characters but the model expects "
            f"{cfg.vocab_size}; {DAMAGED}"
        )
    require_memory(
        generation_bytes(cfg),
        torch.device(device),
        f"the network {path} describes",
        "its config.json is damaged or the model is too big for this machine; use another checkpoint",
    )
    weights = _read_weights(path, cfg)
    model = Network(cfg)
    temperature = check_weights(weights, model.state_dict(), path / WEIGHTS_FILE)
    weights.pop(TEMPERATURE, None)
    model.load_state_dict(weights, strict=True)  # names and shapes are checked: it cannot fail
    return Checkpoint(model.to(device).eval(), vocab, meta, path, temperature)


def read_model_config(path: Path) -> ModelConfig:
    """The network checkpoint folder `path` describes, its settings checked (for --init_from)."""
    return model_config(read_config(path), path / CONFIG_FILE)


def _read_weights(path: Path, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The tensors of `path`'s weights file, refusing one too large for `cfg` or not safetensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():  # a FIFO or a device is no weights file either
        raise PushkinLMError(f"{path} has no {WEIGHTS_FILE}; the checkpoint is incomplete, use another one")
    # float32 weights plus the temperature, and room for the file's JSON header.
    limit = (param_count(cfg) + 1) * FLOAT_BYTES + 2**20
    if weights_path.stat().st_size > limit:
        raise PushkinLMError(
            f"{weights_path} is larger than the network its config.json describes could fill; {DAMAGED}"
        )
    try:
        return load(read_bytes_bounded(weights_path, limit, WEIGHTS_FILE))
    except (SafetensorError, ValueError, OSError) as err:
        raise PushkinLMError(f"{weights_path} is not a valid safetensors file ({err}); {DAMAGED}") from None
