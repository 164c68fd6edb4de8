"""The Hub, exercised offline: huggingface_hub reads caches laid out as the Hub lays them out, and the
upload is stopped at the library's own call."""

import argparse
import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
from conftest import ROOT, make_verse, run_script, tiny_run_config
from huggingface_hub import ModelCard
from huggingface_hub.errors import LocalTokenNotFoundError

from pushkin_lm.cli import push as push_command
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.network import Network
from pushkin_lm.publish.card import SAMPLE
from pushkin_lm.publish.pretrained import PushkinLM
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate
from pushkin_lm.store.checkpoint import FORMAT_VERSION, SHIPPED_NAMES, load_checkpoint
from pushkin_lm.store.hub import download_corpus, looks_like_repo_id, push_failure
from pushkin_lm.train.trainer import train

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fill_hub_cache(cache: Path, text: str) -> None:
    repo = cache / "datasets--abobster--pushkin_new"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "train.txt").write_text(text, encoding="utf-8")


def run_offline(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PUSHKIN_LM_DATA_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_download_reads_the_cached_dataset_file(tmp_path):
    fill_hub_cache(tmp_path, make_verse())
    result = run_offline(
        "from pushkin_lm.store.hub import download_corpus; print(download_corpus())", tmp_path
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name == "train.txt" and path.read_text(encoding="utf-8") == make_verse()


def test_training_without_data_flag_uses_the_hub_copy(tmp_path):
    fill_hub_cache(tmp_path / "cache", make_verse())
    result = run_offline(
        "from pushkin_lm.cli.main import train_main; raise SystemExit(train_main(["
        f"'--out', {str(tmp_path / 'run')!r}, '--max_iters', '3', '--hidden_size', '16', '--embed_dim', '8',"
        "'--num_heads', '2', '--block_size', '16', '--batch_size', '2', '--no_progress']))",
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert "datasets--abobster--pushkin_new" in result.stdout
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_no_network_and_no_cache_says_to_pass_data(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PUSHKIN_LM_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "code" / "train.py"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (
        "HF_HUB_OFFLINE is set and there is no cached copy" in result.stderr
        and "--data PATH" in result.stderr
    )


# ----------------------------------------------------------------------------- models on the Hub

OWNER_NAME = "owner/name"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test here runs offline: a connection attempt fails the test instead of reaching out."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def hub_reachable(monkeypatch):
    """For the tests that stand in for the Hub's API: the connection probe finds it there."""
    monkeypatch.setattr("pushkin_lm.publish.pretrained.hub_unreachable", lambda: None)


@pytest.fixture
def unreachable_hub(tmp_path, monkeypatch):
    """No HF_HUB_OFFLINE, an empty cache, and a Hub whose name does not resolve (as on a machine
    without network); the client's own retries would take 25 s, so a test that waits fails here."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("PUSHKIN_LM_DATA_DIR", str(tmp_path / "data-cache"))
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", no_such_host)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """A Hub cache (not yet made) in $HF_HUB_CACHE, with HF_HUB_OFFLINE=1 (and the import-time copy)."""
    cache = tmp_path / "hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def publish_to_cache(cache: Path, folder: Path, repo_id: str = OWNER_NAME) -> Path:
    """Lay `folder`'s files out as the Hub cache holds a downloaded model repo: content-addressed blobs,
    a snapshot of links to them per commit, and refs/main naming the commit. Returns the snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in sorted(folder.iterdir()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture
def one_thread():
    """Sample on one thread, as `pushkin-lm generate` and the card's sample do."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def logits(model, vocab) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([vocab.encode(make_verse(3)[:200])]))[0]


@pytest.fixture(scope="module")
def published(trained_dir, tmp_path_factory) -> Path:
    """The tiny trained model as save_pretrained writes it, trained (it says) on the Hub corpus."""
    model = PushkinLM.from_pretrained(trained_dir)
    model.meta["data_source"] = "hf://datasets/abobster/pushkin_new/train.txt"
    folder = tmp_path_factory.mktemp("published") / "model"
    model.save_pretrained(folder)
    return folder


def test_save_pretrained_then_from_pretrained_gives_the_same_network(trained_dir, published):
    original = load_checkpoint(trained_dir)
    assert sorted(os.listdir(published)) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((published / "config.json").read_text(encoding="utf-8"))
    assert config["format"] == "pushkin-lm-checkpoint" and config["format_version"] == FORMAT_VERSION
    loaded = PushkinLM.from_pretrained(published)
    assert isinstance(loaded, Network) and loaded.vocab == original.vocab
    assert loaded.temperature == original.temperature and loaded.meta["step"] == original.meta["step"]
    assert torch.equal(logits(loaded, loaded.vocab), logits(original.model, original.vocab))


def test_the_card_is_a_hub_model_card_with_the_checkpoints_own_figures(published, one_thread):
    card = ModelCard.load(published / "README.md")
    meta = load_checkpoint(published).meta
    assert (card.data.language, card.data.license, card.data.library_name) == ("ru", "mit", "pushkin-lm")
    assert card.data.datasets == ["abobster/pushkin_new"]
    assert {"text-generation", "char-level", "lstm", "poetry", "russian"} <= set(card.data.tags)
    figures = {r.metric_type: r for r in card.data.eval_results}
    assert figures["nats_per_char"].metric_value == meta["val_nats_per_char"]
    assert figures["bits_per_char"].metric_value == pytest.approx(meta["val_nats_per_char"] / math.log(2))
    assert {r.dataset_type for r in figures.values()} == {"abobster/pushkin_new"}
    assert {r.dataset_split for r in figures.values()} == {"validation"}
    model = PushkinLM.from_pretrained(published)
    decoder, vocab = model.decoder(), model.vocab
    assert "".join(generate(decoder, vocab, "", SAMPLE)) in card.text  # written by the model itself


def test_a_repo_id_loads_from_the_hub_cache_offline(published, offline_cache):
    snapshot = publish_to_cache(offline_cache, published)
    checkpoint = load_checkpoint(OWNER_NAME)
    assert checkpoint.path == snapshot
    model = PushkinLM.from_pretrained(OWNER_NAME)
    assert model.path == snapshot
    assert torch.equal(logits(model, model.vocab), logits(checkpoint.model, checkpoint.vocab))


def test_generate_takes_a_repo_id_from_the_cache(published, tmp_path):
    publish_to_cache(tmp_path, published)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    flags = ["--max_tokens", "40", "--seed", "3"]
    from_hub = run_script("generate", "--checkpoint", OWNER_NAME, *flags, env=env)
    local = run_script("generate", "--checkpoint", str(published), *flags, env=env)
    assert from_hub.returncode == 0, from_hub.stderr
    assert from_hub.stdout == local.stdout and len(from_hub.stdout) > 40


def test_a_missing_repo_offline_is_a_one_line_error(offline_cache):
    with pytest.raises(PushkinLMError) as err:
        load_checkpoint("owner/missing")
    message = str(err.value)
    assert "\n" not in message and "owner/missing" in message
    assert "HF_HUB_OFFLINE is set" in message and "local checkpoint folder" in message


def test_a_missing_repo_on_the_command_line_is_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    result = run_script("generate", "--checkpoint", "owner/missing", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not in the Hub cache" in result.stderr


def test_a_cached_repo_without_a_checkpoint_is_refused(tmp_path, offline_cache):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "README.md").write_text("# not ours\n")
    publish_to_cache(offline_cache, tmp_path / "other")
    with pytest.raises(PushkinLMError, match="not a pushkin-lm model"):
        load_checkpoint(OWNER_NAME)


@pytest.mark.parametrize(
    ("text", "is_repo"),
    [("owner/name", True), ("abobster/pushkin_new", True), ("a.b-c/d_e.f", True), ("name", False)]
    + [("/abs/path", False), ("./rel/path", False), ("a/b/c", False), ("a--b/c", False), ("a/b.", False)],
)
def test_what_reads_as_a_repo_id(text, is_repo):
    assert looks_like_repo_id(text) is is_repo


def test_a_local_folder_wins_over_a_repo_id_of_the_same_name(tmp_path, monkeypatch, published):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(published, tmp_path / "owner" / "name")
    assert load_checkpoint(OWNER_NAME).path == Path("owner/name")


def test_generating_from_a_local_folder_never_imports_the_hub_client():
    code = (
        "import sys, pushkin_lm.store.hub; light = 'torch' not in sys.modules;"
        "from pushkin_lm.cli.main import main; main(['generate', '--max_tokens', '3']);"
        "print(light, 'huggingface_hub' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "False"]


def test_save_pretrained_will_not_replace_a_folder_of_other_files(published, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PushkinLMError, match="holds files but no checkpoint"):
        PushkinLM.from_pretrained(published).save_pretrained(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_push_uploads_the_best_checkpoint_with_its_card(trained_dir, monkeypatch, hub_reachable):
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = {"repo_id": repo_id, "token": self.token, **kwargs}
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        calls["upload"] = {"repo_id": repo_id, "files": files, "loaded": load_checkpoint(folder), **kwargs}
        return f"https://huggingface.co/{repo_id}/commit/{COMMIT}"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    parser = argparse.ArgumentParser()
    push_command.flags(parser)
    flags = ["--private", "--token", "hf_x", "--commit-message", "m"]
    push_command.run(parser.parse_args([str(trained_dir), OWNER_NAME, *flags]))
    assert calls["create"] == {"repo_id": OWNER_NAME, "token": "hf_x", "private": True, "exist_ok": True}
    upload = calls["upload"]
    assert (upload["repo_id"], upload["repo_type"], upload["commit_message"]) == (OWNER_NAME, "model", "m")
    assert sorted(upload["files"]) == ["README.md", "config.json", "model.safetensors"]  # no trainer state
    best = load_checkpoint(trained_dir / "best")
    assert upload["loaded"].meta == best.meta
    assert torch.equal(logits(upload["loaded"].model, best.vocab), logits(best.model, best.vocab))
    card = upload["files"]["README.md"].decode("utf-8")
    assert f"--checkpoint {OWNER_NAME}" in card and f'from_pretrained("{OWNER_NAME}")' in card


def test_a_push_without_a_login_is_a_one_line_error(trained_dir, monkeypatch, hub_reachable):
    def create_repo(self, repo_id, **kwargs):
        raise LocalTokenNotFoundError("Token is required but no token found.\nLog in first.")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    args = argparse.Namespace(checkpoint=str(trained_dir), repo_id=OWNER_NAME, private=False, token=None)
    with pytest.raises(PushkinLMError, match="not logged in") as err:
        push_command.run(argparse.Namespace(**vars(args), commit_message="m"))
    assert "\n" not in str(err.value) and "--token" in str(err.value)


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("the corpus", lambda folder: download_corpus()),
        ("a model", lambda folder: PushkinLM.from_pretrained(OWNER_NAME)),
        ("a push", lambda folder: PushkinLM.from_pretrained(folder).push_to_hub(OWNER_NAME)),
    ],
)
def test_an_unreachable_hub_is_named_at_once(what, call, trained_dir, unreachable_hub):
    with pytest.raises(PushkinLMError) as err:
        call(trained_dir)
    message = str(err.value)
    assert (
        "\n" not in message
        and "the Hub (huggingface.co) cannot be reached (Name or service not known)" in message
    )
    assert "--checkpoint" not in message  # Python has no flags: the fix is said in words for both


def test_a_connection_error_of_the_http_client_is_named_as_one():
    # httpx's ConnectError derives from its TransportError, not from OSError.
    transport = type("TransportError", (Exception,), {"__module__": "httpx2"})
    connect = type("ConnectError", (transport,), {"__module__": "httpx2"})
    message = push_failure(OWNER_NAME, connect("[Errno -2] Name or service not known"))
    assert "cannot be reached (ConnectError); connect and try again" in message and "repo id" not in message


@pytest.mark.parametrize("name", sorted(SHIPPED_NAMES))
def test_the_shipped_cards_are_up_to_date_and_list_their_sources(name, one_thread):
    folder = SHIPPED_NAMES[name]
    card = ModelCard.load(folder / "README.md")
    shipped = load_checkpoint(name)  # the short name finds the folder
    assert shipped.path == folder and card.data.library_name == "pushkin-lm"
    figures = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert figures["nats_per_char"] == shipped.meta["val_nats_per_char"]
    model = PushkinLM.from_pretrained(folder)
    decoder, vocab = model.decoder(), model.vocab
    settings = SampleConfig(max_tokens=300, temperature=0.8, seed=7)
    assert "".join(generate(decoder, vocab, "", settings)) in card.text
    sources = (ROOT / "docs" / "data" / f"{folder.name}.md").read_text(encoding="utf-8").strip()
    assert "### Training data" in card.text and sources in card.text
    assert "CC0 1.0" in sources and "dracor-org/rusdracor" in sources


def test_a_card_lists_the_sources_it_is_given(published, one_thread, tmp_path):
    sources = "| source | licence |\n|---|---|\n| my poems | CC0 1.0 |"
    PushkinLM.from_pretrained(published).save_pretrained(
        tmp_path / "mine", model_card_kwargs={"sources": sources}
    )
    text = (tmp_path / "mine" / "README.md").read_text(encoding="utf-8")
    assert text.index("## Training") < text.index("### Training data") < text.index("| my poems | CC0 1.0 |")


def test_fine_tuning_starts_from_a_repo_id_in_the_cache(published, offline_cache, tmp_path):
    publish_to_cache(offline_cache, published)
    (tmp_path / "mine.txt").write_text(make_verse(9), encoding="utf-8")
    cfg = tiny_run_config(tmp_path / "mine.txt", tmp_path / "tuned", max_iters=4, init_from=OWNER_NAME)
    train(cfg, log=lambda *_: None)  # the network: the checkpoint's
    tuned = load_checkpoint(tmp_path / "tuned")
    assert tuned.meta["started_from"]["checkpoint"] == OWNER_NAME
    assert tuned.model.cfg == PushkinLM.from_pretrained(OWNER_NAME).cfg
