"""`pushkin-lm push`: publish a checkpoint with its model card to the Hugging Face Hub."""

from __future__ import annotations

import argparse

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import add_flag
from pushkin_lm.store.hub import looks_like_repo_id

DESCRIPTION = (
    "Publish a training run's best checkpoint (or a checkpoint folder) to the Hugging Face Hub "
    "with its model card."
)


def flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="OUT", help="a training run's folder (its best) or a checkpoint")
    p.add_argument("repo_id", metavar="OWNER/NAME", help="the Hub model repo to publish to (made if missing)")
    add_flag(p, "private", action="store_true", help="make a new repo private (an existing one stays)")
    add_flag(p, "token", help="a Hugging Face token that may write there (default: HF_TOKEN, login's)")
    add_flag(
        p,
        "commit_message",
        default="Upload pushkin-lm checkpoint",
        help="the message of the Hub commit that uploads the files",
    )


def run(args: argparse.Namespace) -> None:
    """Publish a checkpoint with its model card (its sample written by the model) in one commit."""
    if not looks_like_repo_id(args.repo_id):  # before the model loads
        raise PushkinLMError(f"{args.repo_id!r} is not a Hub repo id; give it as owner/name")
    from pushkin_lm.publish.pretrained import PushkinLM

    model = PushkinLM.from_pretrained(args.checkpoint)
    url = model.push_to_hub(
        args.repo_id, private=args.private or None, token=args.token, commit_message=args.commit_message
    )
    print(f"published {model.path} to {args.repo_id}: {url}")
