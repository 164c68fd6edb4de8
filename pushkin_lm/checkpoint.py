"""Checkpoints: a folder with `model.safetensors` (weights) and `config.json` (the rest).

`config.json` holds the format tag and version, the model config, the vocabulary and free-form
metadata (training step, validation loss, data source). Nothing is ever unpickled.

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

from .errors import PushkinLMError
from .model import ModelConfig, PushkinLM
from .vocab import CharVocab

FORMAT = "pushkin-lm-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "pushkin-lm"


@dataclass
class Checkpoint:
    model: PushkinLM
    vocab: CharVocab
    meta: dict
    path: Path


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
    extra_files: dict[str, bytes] | None = None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write model weights, config, vocabulary and `meta` to folder `path`, atomically.

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
    files = {
        WEIGHTS_FILE: save(weights),
        CONFIG_FILE: json.dumps(config, ensure_ascii=False, indent=2).encode("utf-8"),
        **(extra_files or {}),
    }
    write_dir_atomically(Path(path), files)


def resolve_checkpoint_dir(path: str | Path | None) -> Path:
    """The checkpoint folder meant by `path`: itself, `path/best` of a training run, or shipped."""
    path = SHIPPED if path is None else Path(path)
    if not path.exists() and _aside(path).is_dir():
        return _aside(path)  # a crash interrupted a save: the previous version is intact
    if not path.exists():
        raise PushkinLMError(
            f"checkpoint {path} does not exist; pass --checkpoint with a checkpoint folder "
            "or a training run's --out folder"
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
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
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
    return config


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> Checkpoint:
    """The model (in eval mode), vocabulary and metadata stored in checkpoint folder `path`."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = resolve_checkpoint_dir(path)
    config = read_config(path)
    cfg = ModelConfig.from_json(config.get("model"))
    vocab = CharVocab.from_json(config.get("vocab"))
    if len(vocab) != cfg.vocab_size:
        raise PushkinLMError(
            f"{path}: the vocabulary has {len(vocab)} characters but the model expects "
            f"{cfg.vocab_size}; the checkpoint is damaged, use another one"
        )
    try:
        weights = load((path / WEIGHTS_FILE).read_bytes())
    except FileNotFoundError:
        raise PushkinLMError(
            f"{path} has no {WEIGHTS_FILE}; the checkpoint is incomplete, use another one"
        ) from None
    except (SafetensorError, ValueError, OSError) as err:
        raise PushkinLMError(
            f"{path / WEIGHTS_FILE} is not a valid safetensors file ({err}); "
            "the checkpoint is damaged, use another one"
        ) from None
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
    return Checkpoint(model.to(device).eval(), vocab, meta, path)
