"""Fetching the Pushkin corpus from the Hugging Face Hub into a local cache."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PushkinLMError

DATASET_REPO = "abobster/pushkin_new"
DATASET_FILE = "train.txt"


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
