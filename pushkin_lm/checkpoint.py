"""Checkpoints: a folder with `model.safetensors` (weights) and `config.json` (the rest).

`config.json` holds the format tag and version, the model config, the vocabulary and free-form
metadata (training step, validation loss, data source); `model.safetensors` holds the network's
weights and, beside them, the calibration temperature that scoring divides its logits by.
Nothing is ever unpickled. Configs of earlier format versions are brought up to date by one
function, `upgrade_config`, and nowhere else. A checkpoint that names no folder here but reads
`owner/name` is a Hugging Face Hub model repo, fetched once into the Hub cache (hub.py).

A folder is replaced as a whole: the new one is written beside it, the old one is renamed
aside, the new one renamed into place, and only then is the old one deleted. A crash at any
moment leaves either the old or the new checkpoint loadable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import read_bytes_bounded
from .errors import PushkinLMError
from .memory import FLOAT_BYTES, generation_bytes, param_count, require_memory
from .model import ModelConfig, PushkinLM
from .vocab import CharVocab

FORMAT = "pushkin-lm-checkpoint"
FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
TEMPERATURE = "calibration_temperature"  # its tensor in WEIGHTS_FILE
CONFIG_FILE = "config.json"
MAX_CONFIG_BYTES = 16 * 2**20  # a config.json is a few kilobytes; anything near this is not one
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = SHIPPED_DIR / "pushkin-lm"  # the default model: Pushkin's verse, fine-tuned from the base
# Short names of the shipped models, for --checkpoint and --init_from: `--init_from base`.
SHIPPED_NAMES = {"pushkin-lm": SHIPPED, "base": SHIPPED_DIR / "ru-verse-base"}


@dataclass
class Checkpoint:
    model: PushkinLM
    vocab: CharVocab
    meta: dict
    path: Path
    temperature: float = 1.0  # scoring divides the network's logits by it; 1 where none was fitted


def _aside(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def write_dir_atomically(target: Path, files: dict[str, bytes]) -> None:
    """Replace folder `target` by one holding `files`, so that no crash leaves neither."""
    target = Path(target)
    old = _aside(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if old.exists() and not target.exists():
            os.replace(old, target)  # finish recovering from a crash mid-swap
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            for name, data in files.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        raise PushkinLMError(
            f"cannot write checkpoint {target}: {err.strerror or err}; "
            "free some disk space or choose another --out (the previous checkpoint is intact)"
        ) from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    path: str | Path,
    model: PushkinLM,
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
    """`path` as a Hugging Face Hub model repo id: only where it names nothing here and reads `owner/name`."""
    if path is None or Path(path).exists() or _aside(Path(path)).is_dir():
        return None
    from .hub import looks_like_repo_id  # stdlib only: the Hub client is imported for a download alone

    return str(path) if looks_like_repo_id(str(path)) else None


def resolve_checkpoint_dir(path: str | Path | None) -> Path:
    """The checkpoint folder meant by `path`: itself, `path/best` of a training run, the local
    snapshot of Hub model repo `owner/name` (downloaded once, then read from the Hub cache), a
    shipped model by its short name, or (None) the default shipped model."""
    if (repo_id := hub_repo_id(path)) is not None:
        from .hub import download_checkpoint

        return resolve_checkpoint_dir(download_checkpoint(repo_id))
    path = SHIPPED if path is None else Path(path)
    if not path.exists() and str(path) in SHIPPED_NAMES:
        path = SHIPPED_NAMES[str(path)]  # a short name, where no folder of that name is here
    if not path.exists() and _aside(path).is_dir():
        return _aside(path)  # a crash interrupted a save: the previous version is intact
    if not path.exists():
        raise PushkinLMError(
            f"checkpoint {path} does not exist; pass --checkpoint with a checkpoint folder, "
            f"a training run's --out folder, a Hugging Face Hub model owner/name or a shipped model's "
            f"name ({', '.join(SHIPPED_NAMES)})"
        )
    if not path.is_dir():
        raise PushkinLMError(
            f"checkpoint {path} is a file; pass the folder that holds {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    if not (path / CONFIG_FILE).exists() and (path / "best").exists():
        return resolve_checkpoint_dir(path / "best")
    return path


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
        raise PushkinLMError(
            f"{config_path} is not valid JSON ({err}); the checkpoint is damaged, use another one"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise PushkinLMError(
            f"{path} is not a pushkin-lm checkpoint (its {CONFIG_FILE} has no "
            f"'format': '{FORMAT}'); pass a folder written by pushkin-lm training"
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise PushkinLMError(f"{config_path} has a bad format_version {version!r}; the checkpoint is damaged")
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
    """The model (in eval mode), vocabulary and metadata stored in checkpoint folder `path`."""
    path = resolve_checkpoint_dir(path)
    config = read_config(path)
    cfg = ModelConfig.from_json(config.get("model"))
    vocab = CharVocab.from_json(config.get("vocab"))
    if len(vocab) != cfg.vocab_size:
        raise PushkinLMError(
            f"{path}: the vocabulary has {len(vocab)} characters but the model expects "
            f"{cfg.vocab_size}; the checkpoint is damaged, use another one"
        )
    require_memory(
        generation_bytes(cfg),
        torch.device(device),
        f"the network {path} describes",
        "its config.json is damaged or the model is too big for this machine; use another checkpoint",
    )
    weights = _read_weights(path, cfg)
    temperature = float(weights.pop(TEMPERATURE, torch.ones(())))
    model = PushkinLM(cfg)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise PushkinLMError(
            f"{path}: the weights do not match the model config ({first}); "
            "the checkpoint is damaged, use another one"
        ) from None
    meta = config.get("meta") if isinstance(config.get("meta"), dict) else {}
    return Checkpoint(model.to(device).eval(), vocab, meta, path, temperature)


def _read_weights(path: Path, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The tensors of `path`'s weights file, refusing one too large for `cfg` or not all finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise PushkinLMError(f"{path} has no {WEIGHTS_FILE}; the checkpoint is incomplete, use another one")
    # float32 weights plus the temperature, and room for the file's JSON header.
    limit = (param_count(cfg) + 1) * FLOAT_BYTES + 2**20
    if weights_path.stat().st_size > limit:
        raise PushkinLMError(
            f"{weights_path} is larger than the network its config.json describes could fill; "
            "the checkpoint is damaged, use another one"
        )
    try:
        weights = load(weights_path.read_bytes())
    except (SafetensorError, ValueError, OSError) as err:
        raise PushkinLMError(
            f"{weights_path} is not a valid safetensors file ({err}); "
            "the checkpoint is damaged, use another one"
        ) from None
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise PushkinLMError(
                f"{weights_path} holds NaN or infinite values in {name}; "
                "the checkpoint is damaged, use another one"
            )
    temperature = weights.get(TEMPERATURE)
    if temperature is not None and not temperature.item() > 0:
        raise PushkinLMError(
            f"{weights_path} has a calibration temperature of {temperature.item()}, which must be above 0; "
            "the checkpoint is damaged, use another one"
        )
    return weights
