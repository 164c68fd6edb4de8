"""The Hugging Face Hub: the corpus comes from it; models go to it and come back from it.

A checkpoint folder is a Hub model repo as it stands: `config.json` (our own format),
`model.safetensors` and a `README.md` model card (card.py). `PushkinLMHub` is `PushkinLM` with
huggingface_hub's `ModelHubMixin` and its vocabulary, temperature and metadata. `--checkpoint
owner/name` works wherever a folder does: the repo is fetched once into the Hub cache.

Importing this module is instant (the CLI takes `push`'s flags from it; generation from a local
folder must not load the Hub client): huggingface_hub and torch are imported where they are used,
and `PushkinLMHub`, whose bases need both, is built when first asked for.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from .errors import PushkinLMError

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from .checkpoint import Checkpoint
    from .model import ModelConfig
    from .vocab import CharVocab

DATASET_REPO = "abobster/pushkin_new"
DATASET_FILE = "train.txt"
LIBRARY = "pushkin-lm"
CARD_FILE = "README.md"
MODEL_FILES = ["config.json", "model.safetensors", CARD_FILE]  # what a model repo download fetches
HUB_CLIENT_PACKAGES = {"huggingface_hub", "httpx", "httpx2", "requests", "urllib3"}  # whose errors we explain
# owner/name as the Hub spells it: letters, digits, '_', '-' and '.', 96 at most on each side.
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", re.ASCII)


def default_cache_dir() -> Path | None:
    """Where Hub downloads land: $PUSHKIN_LM_DATA_DIR, else `data/` of a source checkout.

    Returning None leaves the choice to huggingface_hub (its usual ~/.cache location),
    which is right for a package installed outside a checkout.
    """
    if env := os.environ.get("PUSHKIN_LM_DATA_DIR"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return None


def download_corpus(repo_id: str = DATASET_REPO, filename: str = DATASET_FILE) -> Path:
    """The local path of `filename` from the dataset repo, downloading it on first use.

    Once cached, the file is used without network access (set HF_HUB_OFFLINE=1 to make sure).
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(repo_id, filename, repo_type="dataset", cache_dir=default_cache_dir())
    except LocalEntryNotFoundError:
        raise PushkinLMError(
            f"cannot download {filename} of dataset {repo_id}: no network and no cached copy; "
            "connect once, or pass --data PATH to a local text file or folder"
        ) from None
    except (HfHubHTTPError, OSError) as err:
        raise PushkinLMError(
            f"cannot download {filename} of dataset {repo_id} ({type(err).__name__}); "
            "pass --data PATH to a local text file or folder"
        ) from None
    return Path(path)


def looks_like_repo_id(text: str) -> bool:
    """Whether `text` reads as a Hub repo id `owner/name` (not whether such a repo exists)."""
    return bool(REPO_ID.fullmatch(text)) and "--" not in text and ".." not in text and not text.endswith(".")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as it is now, or as huggingface_hub read it at import."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return flag or bool(constants.HF_HUB_OFFLINE)


def download_checkpoint(repo_id: str, **options: Any) -> Path:
    """The local snapshot of Hub model repo `repo_id` (its checkpoint files only): downloaded once
    into the Hub cache, read from there afterwards, offline too (HF_HUB_OFFLINE=1). `options` go to
    `snapshot_download`: revision, token, cache_dir, force_download, local_files_only."""
    from huggingface_hub import snapshot_download

    from . import __version__

    options = {"cache_dir": os.environ.get("HF_HUB_CACHE") or None, **options}  # as it is now, not at import
    options["local_files_only"] = options.get("local_files_only") or hub_offline()
    try:
        about = {"allow_patterns": MODEL_FILES, "library_name": LIBRARY, "library_version": __version__}
        folder = Path(snapshot_download(repo_id, **about, **options))
    except Exception as err:
        if not _hub_client_error(err):
            raise
        raise PushkinLMError(_download_failure(repo_id, err)) from None
    if not (folder / MODEL_FILES[0]).is_file():
        raise PushkinLMError(
            f"Hub model repo {repo_id} holds no {MODEL_FILES[0]}, so it is not a pushkin-lm model; "
            "pass --checkpoint with a repo that pushkin-lm push published, or a local checkpoint folder"
        )
    return folder


def _hub_client_error(err: Exception) -> bool:
    """Whether `err` is the Hub client's (HTTP, connection, validation, cache) rather than a bug here."""
    package = type(err).__module__.split(".")[0]
    return isinstance(err, OSError) or package in HUB_CLIENT_PACKAGES


def _download_failure(repo_id: str, err: Exception) -> str:
    """One line naming why `repo_id` could not be fetched, and what to do instead."""
    from huggingface_hub import errors
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    local = "or pass --checkpoint with a local checkpoint folder"
    if isinstance(err, GatedRepoError):
        return f"Hub model {repo_id} is gated: accept its terms on the Hub, log in (hf auth login), {local}"
    if isinstance(err, RepositoryNotFoundError):
        where = "a folder here nor a Hub model you may read"
        return f"checkpoint {repo_id} is neither {where}; check the name, {local}"
    if isinstance(err, errors.RevisionNotFoundError):
        return f"Hub model {repo_id} has no such revision; check the revision, {local}"
    if isinstance(err, LocalEntryNotFoundError):  # offline, or no network, and not (all) in the cache
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub cannot be reached"
        incomplete = isinstance(err, getattr(errors, "IncompleteSnapshotError", ()))  # newer clients only
        missing = "is incomplete in" if incomplete else "is not in"
        return (
            f"checkpoint {repo_id} is not a folder here, and Hub model {repo_id} {missing} the Hub cache "
            f"({why}); connect once to download it (it is cached for offline use), {local}"
        )
    return f"cannot fetch Hub model {repo_id} ({type(err).__name__}); try again later, {local}"


class _HubModel:
    """`PushkinLM` with its vocabulary, calibration temperature and training metadata, loaded and saved
    the Hub way by `ModelHubMixin`. `save_pretrained` writes a checkpoint folder and its card at once (the
    mixin's own deletes config.json first); `push_to_hub` uploads what it writes in one commit."""

    def __init__(
        self, cfg: ModelConfig, vocab: CharVocab, meta: dict | None = None, temperature: float = 1.0
    ) -> None:
        super().__init__(cfg)  # PushkinLM's, in the built class
        self.vocab = vocab
        self.meta = dict(meta or {})
        self.temperature = float(temperature)
        self.path: Path | None = None  # the folder it was loaded from, if any

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> Self:
        """The loaded `checkpoint` as one object, on the device its model is on."""
        model = checkpoint.model
        hub = cls(model.cfg, checkpoint.vocab, checkpoint.meta, checkpoint.temperature)
        hub.load_state_dict(model.state_dict())
        hub.path = checkpoint.path
        return hub.to(next(model.parameters()).device).eval()

    def to_checkpoint(self) -> Checkpoint:
        """The same model, vocabulary, metadata and temperature as the rest of pushkin-lm takes them."""
        from .checkpoint import Checkpoint

        return Checkpoint(self, self.vocab, self.meta, self.path or Path(), self.temperature)

    @classmethod
    def from_pretrained(cls, repo_or_path: str | Path, *, device: str = "cpu", **hub: Any) -> Self:
        """The model in a checkpoint folder, a training run's folder (its best), or Hub repo `owner/name`;
        `hub` (revision, token, cache_dir, force_download, local_files_only) goes to `download_checkpoint`."""
        from .checkpoint import hub_repo_id, load_checkpoint

        if (repo_id := hub_repo_id(repo_or_path)) is not None:
            repo_or_path = download_checkpoint(repo_id, **hub)
        return cls.from_checkpoint(load_checkpoint(repo_or_path, device))

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: Any = None,  # the mixin's push_to_hub passes it; config.json is always our own
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict | None = None,
        **push_kwargs: Any,
    ) -> str | None:
        """Write checkpoint folder `save_directory` (weights, config.json, model card) atomically;
        refuses a folder that holds anything but a checkpoint, which it would replace."""
        folder = Path(save_directory)
        if folder.is_dir() and any(folder.iterdir()) and not (folder / MODEL_FILES[0]).is_file():
            raise PushkinLMError(
                f"{folder} holds files but no checkpoint, and saving would replace them; choose an empty "
                "or new folder (a training run's folder is written by training alone)"
            )
        self._save_pretrained(folder, **(model_card_kwargs or {}))
        if push_to_hub:
            return self.push_to_hub(
                repo_id or folder.name, model_card_kwargs=model_card_kwargs, **push_kwargs
            )
        return None

    def _save_pretrained(self, save_directory: Path, repo_id: str | None = None) -> None:
        """The checkpoint and its card, in the weights' own storage type (the shipped model's is float16)."""
        import torch

        from .checkpoint import save_checkpoint

        card = self.generate_model_card(repo_id=repo_id, reference=repo_id or str(save_directory))
        dtype = torch.float16 if self.meta.get("weights_dtype") == "float16" else torch.float32
        extra = {CARD_FILE: str(card).encode("utf-8")}
        save_checkpoint(save_directory, self, self.vocab, self.meta, self.temperature, extra, dtype)

    def generate_model_card(self, *_: Any, **card: Any) -> ModelCard:
        """This model's card (card.py: `repo_id`, `reference`), its sample written by the model itself."""
        from .card import build_card

        return build_card(self, self.vocab, self.meta, self.temperature, **card)

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict | None = None, **kwargs: Any) -> str:
        """Publish to Hub model repo `repo_id` (created if missing) in one commit, card included;
        `private`, `token`, `commit_message` and the mixin's other options pass through."""
        if not looks_like_repo_id(repo_id):
            raise PushkinLMError(f"{repo_id!r} is not a Hub repo id; give it as owner/name")
        card_kwargs = {"repo_id": repo_id, **(model_card_kwargs or {})}
        try:
            return super().push_to_hub(repo_id, model_card_kwargs=card_kwargs, **kwargs)
        except Exception as err:
            if not _hub_client_error(err):
                raise
            raise PushkinLMError(_push_failure(repo_id, err)) from None


def _push_failure(repo_id: str, err: Exception) -> str:
    """One line naming why publishing to `repo_id` failed, and what to do about it."""
    status = getattr(getattr(err, "response", None), "status_code", None)
    what = f"cannot push to {repo_id}"
    if status == 401 or "Token" in type(err).__name__:
        return f"{what}: not logged in to the Hugging Face Hub; run hf auth login or pass --token"
    if status == 403:
        return f"{what}: the token may not write there; pass --token with a write token of its owner"
    if isinstance(err, OSError) and not status:
        return f"{what}: the Hugging Face Hub cannot be reached ({type(err).__name__}); try again"
    return f"{what} ({type(err).__name__}, HTTP {status or '-'}); check the repo id and try again"


@functools.cache
def _hub_class() -> type:
    """`PushkinLMHub`: built on first use, since its bases import torch and huggingface_hub."""
    from huggingface_hub import ModelHubMixin

    from .card import LICENSE, TAGS
    from .model import PushkinLM

    metadata = {"library_name": LIBRARY, "license": LICENSE, "language": ["ru"], "tags": list(TAGS)}
    cls = types.new_class("PushkinLMHub", (_HubModel, PushkinLM, ModelHubMixin), metadata)
    cls.__module__, cls.__qualname__, cls.__doc__ = __name__, "PushkinLMHub", _HubModel.__doc__
    return cls


def __getattr__(name: str) -> Any:
    """`from pushkin_lm.hub import PushkinLMHub` builds the class then, not when the module loads."""
    if name == "PushkinLMHub":
        return _hub_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def push_flags(p: argparse.ArgumentParser) -> None:
    """`pushkin-lm push OUT owner/name` and its options."""
    p.add_argument("checkpoint", metavar="OUT", help="a training run's folder (its best) or a checkpoint")
    p.add_argument("repo_id", metavar="OWNER/NAME", help="the Hub model repo to publish to (made if missing)")
    p.add_argument("--private", action="store_true", help="make a new repo private (an existing one stays)")
    p.add_argument("--token", help="a Hugging Face token that may write there (default: HF_TOKEN, login's)")
    message = "Upload pushkin-lm checkpoint"
    p.add_argument(
        "--commit_message", "--commit-message", dest="commit_message", default=message,
        help="the message of the Hub commit that uploads the files",
    )  # fmt: skip


def push(args: argparse.Namespace) -> None:
    """Publish a checkpoint with its model card (its sample written by the model) in one commit."""
    if not looks_like_repo_id(args.repo_id):
        raise PushkinLMError(f"{args.repo_id!r} is not a Hub repo id; give it as owner/name")
    model = _hub_class().from_pretrained(args.checkpoint)
    url = model.push_to_hub(
        args.repo_id, private=args.private or None, token=args.token, commit_message=args.commit_message
    )
    print(f"published {model.path} to {args.repo_id}: {url}")
