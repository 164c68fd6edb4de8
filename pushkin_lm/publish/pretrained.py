"""`PushkinLM`: the network with its vocabulary, calibration and metadata, as one object that loads,
saves and shares itself the Hugging Face way, and writes and scores verse.

    from pushkin_lm import PushkinLM

    model = PushkinLM.from_pretrained()                      # the shipped model; or a folder, owner/name
    print(model.generate("Мороз и солнце", max_tokens=200, seed=1))
    print(model.stanza("onegin", seed=1))
    model.score("Буря мглою небо кроет").bits_per_char
    model.push_to_hub("owner/name")                         # the checkpoint and its card, one commit

It is `Network` with huggingface_hub's `ModelHubMixin`: the mixin gives `push_to_hub` (one commit of
what `save_pretrained` writes) and the Hub's class metadata; loading and saving go through the
checkpoint format (store/checkpoint.py), so a saved folder is an ordinary checkpoint folder, written
atomically, with its card (publish/card.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Self

import torch
from huggingface_hub import ModelCard, ModelHubMixin

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.network import Network
from pushkin_lm.model.scorer import Score, score_text
from pushkin_lm.publish.card import LICENSE, TAGS, build_card
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.forms import generate_form
from pushkin_lm.sampling.sample import generate as generate_text
from pushkin_lm.store.checkpoint import (
    Checkpoint,
    download_checkpoint,
    hub_repo_id,
    load_checkpoint,
    save_checkpoint,
)
from pushkin_lm.store.hub import LIBRARY, hub_client_error, hub_unreachable, looks_like_repo_id, push_failure
from pushkin_lm.store.layout import CARD_FILE, CONFIG_FILE
from pushkin_lm.verse.forms import DEFAULT_METER


class PushkinLM(
    Network, ModelHubMixin, library_name=LIBRARY, license=LICENSE, language=["ru"], tags=list(TAGS)
):
    """A language model of Russian verse: the network, its vocabulary (`vocab`), the temperature its
    scores are calibrated by (`temperature`) and what training recorded (`meta`)."""

    def __init__(
        self, cfg: ModelConfig, vocab: CharVocab, meta: dict | None = None, temperature: float = 1.0
    ) -> None:
        super().__init__(cfg)
        self.vocab = vocab
        self.meta = dict(meta or {})
        self.temperature = float(temperature)
        self.path: Path | None = None  # the folder it was loaded from, if any
        self._decoders: dict[bool, Decoder] = {}  # by int8: packing the weights takes a moment

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> Self:
        """The loaded `checkpoint` as one object, on the device its network is on."""
        network = checkpoint.model
        model = cls(network.cfg, checkpoint.vocab, checkpoint.meta, checkpoint.temperature)
        model.load_state_dict(network.state_dict())
        model.path = checkpoint.path
        return model.to(next(network.parameters()).device).eval()

    @classmethod
    def from_pretrained(
        cls, repo_or_path: str | Path | None = None, *, device: str = "cpu", **hub: Any
    ) -> Self:
        """The model in a checkpoint folder, a training run's folder (its best), Hub repo `owner/name`,
        or a shipped model by name (None: the default one). `hub` (revision, token, cache_dir,
        force_download, local_files_only) goes to the download."""
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
        refuses a folder that holds anything but a checkpoint, which it would replace.
        `model_card_kwargs` go to the card (publish/card.py `build_card`: repo_id, reference, sources)."""
        folder = Path(save_directory)
        if folder.is_dir() and any(folder.iterdir()) and not (folder / CONFIG_FILE).is_file():
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

    def _save_pretrained(self, save_directory: Path, **card: Any) -> None:
        """The checkpoint and its card, in the weights' own storage type (the shipped model's is float16)."""
        card = {"reference": card.get("repo_id") or str(save_directory), **card}
        extra = {CARD_FILE: str(self.generate_model_card(**card)).encode("utf-8")}
        dtype = torch.float16 if self.meta.get("weights_dtype") == "float16" else torch.float32
        save_checkpoint(save_directory, self, self.vocab, self.meta, self.temperature, extra, dtype)

    def generate_model_card(self, *_: Any, **card: Any) -> ModelCard:
        """This model's card (publish/card.py `build_card`), its sample written by the model itself."""
        return build_card(self, self.vocab, self.meta, self.temperature, **card)

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict | None = None, **kwargs: Any) -> str:
        """Publish to Hub model repo `repo_id` (created if missing) in one commit, card included;
        `private`, `token`, `commit_message` and the mixin's other options pass through."""
        if not looks_like_repo_id(repo_id):
            raise PushkinLMError(f"{repo_id!r} is not a Hub repo id; give it as owner/name")
        if unreachable := hub_unreachable():  # at once, not after the client's 25 s of retries
            raise PushkinLMError(f"cannot push to {repo_id}: {unreachable}; connect and try again")
        card_kwargs = {"repo_id": repo_id, **(model_card_kwargs or {})}
        try:
            return super().push_to_hub(repo_id, model_card_kwargs=card_kwargs, **kwargs)
        except Exception as err:
            if not hub_client_error(err):
                raise
            raise PushkinLMError(push_failure(repo_id, err)) from None

    # ------------------------------------------------------------------ writing and scoring

    def generate(self, prompt: str = "", **settings: Any) -> str:
        """What the model writes after `prompt` (not included); `settings` are `SampleConfig`'s:
        max_tokens, temperature, top_k, top_p, seed."""
        return "".join(generate_text(self.decoder(), self.vocab, prompt, SampleConfig(**settings)))

    def stanza(
        self, form: str = "onegin", meter: str = DEFAULT_METER, prompt: str = "", **settings: Any
    ) -> str:
        """A stanza of `form` (onegin, abab, abba, aabb) in `meter` (e.g. iamb4) that continues `prompt`;
        `settings` as for `generate` (max_tokens aside: the form sets the length)."""
        pieces = generate_form(self.decoder(), self.vocab, prompt, SampleConfig(**settings), form, meter)
        return "".join(pieces)

    def score(self, text: str) -> Score:
        """How well the model predicts `text`: nats and bits per character, calibrated."""
        return score_text(self, self.vocab, text, self.temperature)

    def decoder(self, int8: bool = True) -> Decoder:
        """The network frozen for generation (built once per precision; weights changed afterwards
        are not seen by it). int8 is 2-3x faster; float32 is exactly the trained network."""
        if int8 not in self._decoders:
            self._decoders[int8] = Decoder(self, int8=int8)
        return self._decoders[int8]


@functools.cache
def default_model() -> PushkinLM:
    """The shipped model, loaded once."""
    return PushkinLM.from_pretrained()


def generate(prompt: str = "", model: PushkinLM | None = None, **settings: Any) -> str:
    """What `model` (default: the shipped one) writes after `prompt`; see `PushkinLM.generate`."""
    return (model or default_model()).generate(prompt, **settings)
