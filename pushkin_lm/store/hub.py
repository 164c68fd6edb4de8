"""The Hugging Face Hub as a store: its names, and downloads from it (the corpus, model repos).

What a model repo holds is the checkpoint format's business (store/checkpoint.py); publishing is
publish/'s. Importing this module is instant: huggingface_hub is imported by the downloads alone,
so that reading a local folder never loads the Hub client.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.version import VERSION

DATASET_REPO = "abobster/pushkin_new"
DATASET_FILE = "train.txt"
CORPUS_URI = f"hf://datasets/{DATASET_REPO}/{DATASET_FILE}"  # what a run records as its data source
LIBRARY = "pushkin-lm"
HUB_CLIENT_PACKAGES = {"huggingface_hub", "httpx", "httpx2", "requests", "urllib3"}  # whose errors we explain
# Long enough for a slow connection to answer, short enough that an offline user hears at once
# (the Hub client itself retries a failed connection five times, 25 s, before it gives up).
PROBE_TIMEOUT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
# owner/name as the Hub spells it: letters, digits, '_', '-' and '.', 96 at most on each side.
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", re.ASCII)


def default_cache_dir() -> Path | None:
    """Where Hub downloads land: $PUSHKIN_LM_DATA_DIR, else `data/` of a source checkout.

    Returning None leaves the choice to huggingface_hub (its usual ~/.cache location),
    which is right for a package installed outside a checkout.
    """
    if env := os.environ.get("PUSHKIN_LM_DATA_DIR"):
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return None


def download_corpus(repo_id: str = DATASET_REPO, filename: str = DATASET_FILE) -> Path:
    """The local path of `filename` from the dataset repo, downloading it on first use.

    Once cached, the file is used without network access (set HF_HUB_OFFLINE=1 to make sure); where
    the Hub cannot be reached, the cached copy is used at once, without the client's retries.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    unreachable = hub_unreachable()
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            repo_type="dataset",
            cache_dir=default_cache_dir(),
            local_files_only=bool(unreachable),
        )
    except LocalEntryNotFoundError:
        raise PushkinLMError(
            f"cannot download {filename} of dataset {repo_id}: {unreachable or 'no network'} and there is "
            "no cached copy; connect once, or pass --data PATH to a local text file or folder"
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


def hub_unreachable() -> str | None:
    """Why the Hub cannot be reached from here, or None where it may be: HF_HUB_OFFLINE, or a
    connection to its endpoint that fails within PROBE_TIMEOUT_S. Behind a proxy the client knows
    the way and this does not, so it says None."""
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    from huggingface_hub import constants

    endpoint = urlsplit(constants.ENDPOINT)
    host, port = (
        endpoint.hostname or "huggingface.co",
        endpoint.port or (80 if endpoint.scheme == "http" else 443),
    )
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as err:
        return f"the Hub ({host}) cannot be reached ({err.strerror or type(err).__name__})"
    return None


def download_model(repo_id: str, files: list[str], **options: Any) -> Path:
    """The local snapshot of `files` of Hub model repo `repo_id`: downloaded once into the Hub cache,
    read from there afterwards, offline too (HF_HUB_OFFLINE=1). `options` go to `snapshot_download`:
    revision, token, cache_dir, force_download, local_files_only."""
    from huggingface_hub import snapshot_download

    options = {"cache_dir": os.environ.get("HF_HUB_CACHE") or None, **options}  # as it is now, not at import
    unreachable = None if options.get("local_files_only") else hub_unreachable()
    options["local_files_only"] = options.get("local_files_only") or bool(unreachable)
    about = {"allow_patterns": files, "library_name": LIBRARY, "library_version": VERSION}
    try:
        return Path(snapshot_download(repo_id, **about, **options))
    except Exception as err:
        if not hub_client_error(err):
            raise
        raise PushkinLMError(_download_failure(repo_id, err, unreachable)) from None


def hub_client_error(err: Exception) -> bool:
    """Whether `err` is the Hub client's (HTTP, connection, validation, cache) rather than a bug here."""
    package = type(err).__module__.split(".")[0]
    return isinstance(err, OSError) or package in HUB_CLIENT_PACKAGES


def _download_failure(repo_id: str, err: Exception, unreachable: str | None) -> str:
    """One line naming why `repo_id` could not be fetched, and what to do instead (in words that
    hold for the command line and for Python alike)."""
    from huggingface_hub import errors
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    local = "or give a local checkpoint folder instead"
    if isinstance(err, GatedRepoError):
        return f"Hub model {repo_id} is gated: accept its terms on the Hub, log in (hf auth login), {local}"
    if isinstance(err, RepositoryNotFoundError):
        where = "a folder here nor a Hub model you may read"
        return f"checkpoint {repo_id} is neither {where}; check the name, {local}"
    if isinstance(err, errors.RevisionNotFoundError):
        return f"Hub model {repo_id} has no such revision; check the revision, {local}"
    if isinstance(err, LocalEntryNotFoundError):  # offline, or no network, and not (all) in the cache
        why = unreachable or "the Hub cannot be reached"
        incomplete = isinstance(err, getattr(errors, "IncompleteSnapshotError", ()))  # newer clients only
        missing = "is incomplete in" if incomplete else "is not in"
        return (
            f"checkpoint {repo_id} is not a folder here, and Hub model {repo_id} {missing} the Hub cache "
            f"({why}); connect once to download it (it is cached for offline use), {local}"
        )
    return f"cannot fetch Hub model {repo_id} ({type(err).__name__}); try again later, {local}"


def push_failure(repo_id: str, err: Exception) -> str:
    """One line naming why publishing to `repo_id` failed, and what to do about it."""
    status = getattr(getattr(err, "response", None), "status_code", None)
    what = f"cannot push to {repo_id}"
    if status == 401 or "Token" in type(err).__name__:
        return f"{what}: not logged in to the Hugging Face Hub; run hf auth login or pass --token"
    if status == 403:
        return f"{what}: the token may not write there; pass --token with a write token of its owner"
    if not status and _network_failure(err):
        return f"{what}: the Hugging Face Hub cannot be reached ({type(err).__name__}); connect and try again"
    return f"{what} ({type(err).__name__}, HTTP {status or '-'}); check the repo id and try again"


def _network_failure(err: Exception) -> bool:
    """A failure to reach a server: an OSError, or the HTTP client's transport errors (httpx's
    ConnectError and its kin derive from TransportError, not from OSError)."""
    return isinstance(err, OSError) or any(cls.__name__ == "TransportError" for cls in type(err).__mro__)
