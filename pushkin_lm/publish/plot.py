"""Pictures: training curves from a run's log.jsonl, and the attention block's weights over a line.

Only the command-line layer imports this module, and only for its picture commands: matplotlib
stays off the generation path. matplotlib is imported inside the drawing functions, and figures
are drawn by its non-interactive Agg backend without pyplot: no global backend is switched.

`F.scaled_dot_product_attention` never materialises attention weights, so `recompute_attention`
recomputes them from the block's own `qkv` projection, key shift and window mask; the tests
check that they give the block's own output.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import in_the_way
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.network import CausalSelfAttention, Network, window_mask
from pushkin_lm.publish.runlog import read_log

FONT = "DejaVu Sans"  # matplotlib's bundled font: Latin, Cyrillic and the symbols used below
VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}  # ␣ ↵ ⇥
DPI = 100
# Agg draws a figure into one RGBA buffer of 4 bytes a pixel before it compresses it: a heat-map of
# 4,000 characters would be 6.4 billion pixels (std::bad_alloc). 40 million (160 MB) hold the shipped
# model's whole window, its 4 heads over 256 characters (30 million), at a legible 0.1 inch a character.
MAX_PICTURE_PIXELS = 40_000_000


# ---------------------------------------------------------------------------- training curves


def best_evaluation(rows: list[dict]) -> tuple[dict, str]:
    """The evaluation training kept as best, and the score it judged by: validation loss, or training
    loss when the run had no validation split. Of equal scores, the first."""
    key = "val_nats_per_char" if any("val_nats_per_char" in row for row in rows) else "train_nats_per_char"
    return min((row for row in rows if key in row), key=lambda row: row[key]), key  # min keeps the first


def run_title(run_dir: Path, evaluations: int) -> str:
    """The picture's title: the run by its own name (its --out folder's, or a saved log file's) and how
    much it holds; not the whole path, which would print a temporary folder into a README."""
    path = Path(run_dir).resolve()
    name = path.name if path.suffix != ".jsonl" else path.parent.name if path.stem == "log" else path.stem
    return f"training run {name or path}: {evaluations:,} evaluation{'s' * (evaluations != 1)}"


def plot_training_curves(
    run_dir: Path, out_png: Path, title: str | None = None, warn: Callable[[str], None] | None = None
) -> Path:
    """Draw a training run's train and validation nats/char against steps and wall-clock minutes.

    `run_dir` is a training run's --out folder (holding log.jsonl). The best evaluation is marked;
    a right-hand axis gives bits/char. `title` replaces `run_title`'s; `warn` is told, in one line,
    of damaged log lines skipped. Writes `out_png` (its folder is created) and returns it. Raises
    PushkinLMError for a missing, empty or unreadable log, or an output that cannot be written.
    """
    log = read_log(run_dir)
    if warn and log.warning():
        warn(log.warning())
    with _figure_context() as Figure:
        fig = curves_figure(Figure, log.rows, title or run_title(run_dir, len(log.rows)))
        return _save(fig, out_png)


def curves_figure(Figure: type, rows: list[dict], title: str):
    """The figure of `plot_training_curves` for evaluations `rows`, not yet drawn."""
    best, best_key = best_evaluation(rows)
    fig = Figure(figsize=(13, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, x_key, scale, label in (
        (axes[0], "step", 1.0, "training step"),
        (axes[1], "elapsed_s", 1 / 60, "wall-clock minutes (evaluation included)"),
    ):
        _draw_curves(ax, rows, x_key, scale)
        ax.set_xlabel(label)
    axes[0].xaxis.set_major_locator(_integer_locator())  # no step 2.5
    _leave_room(axes[0], rows)
    for ax, x_key, scale in ((axes[0], "step", 1.0), (axes[1], "elapsed_s", 1 / 60)):
        _mark_best(ax, best, best_key, x_key, scale)
    axes[0].set_ylabel("nats per character")
    axes[0].set_title("loss against training steps")
    axes[1].set_title("loss against wall-clock time")
    axes[1].secondary_yaxis(
        "right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2))
    ).set_ylabel("bits per character")
    fig.suptitle(title)
    return fig


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1)


def _draw_curves(ax, rows: list[dict], x_key: str, scale: float) -> None:
    for key, label, style in (
        ("train_nats_per_char", "train (fixed slice)", "o-"),
        ("val_nats_per_char", "validation", "s-"),
    ):
        points = [(row[x_key] * scale, row[key]) for row in rows if key in row]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, style, markersize=4, linewidth=1.5, label=label)
    # From 0, so that one evaluation or two are not drawn at the axis' edges with ticks a fraction apart.
    last = max(row[x_key] * scale for row in rows)
    ax.set_xlim(0, last * 1.08 if last > 0 else 1)
    ax.grid(True, alpha=0.3)


def _leave_room(ax, rows: list[dict]) -> None:
    """Widen the (shared) loss axis so that the star and the legend fit inside it beside the curves,
    however few evaluations there are (one evaluation's two losses may be a hair apart)."""
    values = [row[key] for row in rows for key in ("train_nats_per_char", "val_nats_per_char") if key in row]
    low, high = min(values), max(values)
    span = max(high - low, 0.05 * max(abs(high), 1.0))
    ax.set_ylim(max(0.0, low - 0.15 * span), high + 0.6 * span)  # the legend's three lines above the curves


def _mark_best(ax, best: dict, best_key: str, x_key: str, scale: float) -> None:
    """The best checkpoint's star, its score and step in the legend: a label beside the star ran into
    the curves, the titles or the figure's edge, wherever the best evaluation happened to fall; the
    legend goes where it covers no curve (loc="best")."""
    which = "validation" if best_key == "val_nats_per_char" else "train, no validation split"
    ax.plot(
        [best[x_key] * scale],
        [best[best_key]],
        marker="*",
        markersize=16,
        color="crimson",
        linestyle="none",
        label=f"best checkpoint: {best[best_key]:.4f} ({which}) at step {best['step']:,}",
    )
    ax.legend(loc="best")


@contextmanager
def _figure_context() -> Iterator[type]:
    """matplotlib's Figure class in the bundled font: no pyplot, so no global backend and no open figures."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise PushkinLMError("pictures need matplotlib; install it with: pip install matplotlib") from None
    with matplotlib.rc_context({"font.family": FONT}):
        yield Figure


def _save(fig, out_png: Path) -> Path:
    """Write `fig` as a PNG to `out_png`, whole or not at all: drawn in memory first, then written to
    a new file of its own beside it (never a user's file of a like name, never through a link) and
    renamed over it, so a failure (a full disk) leaves an older picture as it was."""
    out_png = Path(out_png)
    if out_png.exists() and not out_png.is_file():  # a folder, a named pipe (opening it would wait), a device
        raise PushkinLMError(f"cannot write {out_png}: it is not a file; choose another path")
    if blocked := in_the_way(out_png):
        raise PushkinLMError(f"cannot write {out_png}: {blocked}; choose another path")
    picture = io.BytesIO()
    fig.savefig(picture, format="png", dpi=DPI)  # a PNG from a bare Figure is drawn by Agg
    tmp = None
    try:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out_png.name}.", suffix=".tmp", dir=out_png.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(picture.getvalue())
        os.replace(tmp, out_png)
    except OSError as err:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        raise PushkinLMError(f"cannot write {out_png}: {err.strerror or err}; choose another path") from None
    return out_png


# ---------------------------------------------------------------------------- attention


def recompute_attention(attn: CausalSelfAttention, x: Tensor) -> tuple[Tensor, Tensor]:
    """The attention weights (batch, heads, length, length) of `attn` over `x`, and its output.

    `x` (batch, length, hidden) is the block's input (`ln_attn` of the LSTM output) at the start
    of a text: no cached keys, and a zero pending key when keys are shifted. Weight [i, j] is how
    much query i reads the value of position j. The output is `attn`'s own in eval mode.
    """
    batch, length, width = x.shape
    heads = lambda t: t.view(batch, length, attn.num_heads, -1).transpose(1, 2)  # noqa: E731
    q, k, v = (heads(t) for t in attn.qkv(x).split(width, dim=2))
    if attn.shift_keys:  # the value of position j is found by the key of position j - 1
        k = torch.cat([torch.zeros_like(k[:, :, :1]), k[:, :, :-1]], dim=2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    visible = window_mask(0, length, attn.window).to(x.device)
    weights = scores.masked_fill(~visible, float("-inf")).softmax(dim=-1)
    out = attn.proj((weights @ v).transpose(1, 2).reshape(batch, length, width))
    return weights, out


def attention_weights(model: Network, vocab: CharVocab, text: str) -> Tensor:
    """The attention weights (heads, length, length) of `model` over `text`, read at a text's start.

    Raises PushkinLMError for a model without attention, an empty text, a text longer than the
    attention window or one with characters outside the vocabulary.
    """
    _check_attention_text(model, vocab, text)
    captured: list[Tensor] = []
    hook = model.ln_attn.register_forward_hook(lambda _m, _i, out: captured.append(out))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.tensor([vocab.encode(text)], device=model.head.weight.device))
            weights, _ = recompute_attention(model.attn, captured[0])
    finally:
        hook.remove()
        model.train(was_training)
    return weights[0].float().cpu()


def _check_attention_text(model: Network, vocab: CharVocab, text: str) -> None:
    if not model.cfg.attention:
        raise PushkinLMError(
            "this model has no attention block (it was trained with attention off); "
            "use a checkpoint trained with attention"
        )
    if not text:
        raise PushkinLMError("the text is empty; give a line of verse")
    if len(text) > model.cfg.attn_window:
        raise PushkinLMError(
            f"the text has {len(text):,} characters but the attention window is {model.cfg.attn_window:,}; "
            f"give --text of at most {model.cfg.attn_window:,} characters"
        )
    longest = longest_attention_text(model.cfg.num_heads, model.cfg.attn_window)
    if longest == 0:
        raise PushkinLMError(
            f"this model has {model.cfg.num_heads:,} attention heads, more than one picture of "
            f"{MAX_PICTURE_PIXELS // 10**6} million pixels can show; use a checkpoint with fewer heads"
        )
    if len(text) > longest:  # before the network reads it: its weights alone are heads x length^2
        raise PushkinLMError(
            f"the text has {len(text):,} characters, but a picture of this model's {model.cfg.num_heads} "
            f"heads holds at most {longest:,} (about {MAX_PICTURE_PIXELS // 10**6} million pixels); "
            f"give --text of at most {longest:,} characters"
        )
    unknown = vocab.unknown_chars(text)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10])
        raise PushkinLMError(f"the text has characters the model does not know: {shown}; replace them")


def _display_char(char: str, has_glyph: Callable[[str], bool]) -> str:
    """A visible label for one character: ␣ for a space, ↵ for a newline, U+XXXX for the invisible."""
    if char in VISIBLE:
        return VISIBLE[char]
    category = unicodedata.category(char)
    if category.startswith(("C", "Z")) or not has_glyph(char):
        return f"U+{ord(char):04X}"
    return "\u25cc" + char if category.startswith("M") else char  # a combining mark on a dotted circle


def _glyph_checker() -> Callable[[str], bool]:
    """A test for whether the bundled font draws a character, so that no label shows a missing box."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_manager.findfont(FONT, fallback_to_default=True))
    return lambda char: font.get_char_index(ord(char)) != 0


def plot_attention(model: Network, vocab: CharVocab, text: str, out_png: Path) -> Path:
    """Draw the causal attention of `model`'s attention block over `text` as one heat-map per head.

    Rows are queries (each position, predicting the character after it), columns the positions
    whose values they read; spaces show as ␣, newlines as ↵. `text` is read as the start of a
    text. Writes `out_png` (its folder is created) and returns it. Raises PushkinLMError for a
    model without attention, or a text that is empty, too long or outside the vocabulary.
    """
    weights = attention_weights(model, vocab, text).numpy()
    num_heads, length = weights.shape[0], len(text)
    weights[:, torch.ones(length, length).triu(1).bool().numpy()] = float("nan")  # the future
    layout = _attention_layout(num_heads, length)
    with _figure_context() as Figure:
        from matplotlib import colormaps

        has_glyph = _glyph_checker()
        labels = [_display_char(c, has_glyph) for c in text]
        fig = Figure(figsize=layout.size, layout="constrained")
        axes = fig.subplots(layout.rows, layout.cols, squeeze=False)
        cmap = colormaps["magma"].with_extremes(bad="#eeeeee")  # grey: the future, which no query sees
        for head, ax in enumerate(axes.flat):
            if head >= num_heads:
                ax.axis("off")
                continue
            image = ax.imshow(weights[head], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            _label_axes(ax, labels, layout.font_size)
            ax.set_title(f"head {head + 1}")
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
        fig.suptitle(f"attention over \u201c{_shorten(text, has_glyph)}\u201d ({length} characters)")
        return _save(fig, out_png)


class _Layout(NamedTuple):
    rows: int
    cols: int
    size: tuple[float, float]  # the figure's, in inches
    font_size: float


def _attention_layout(num_heads: int, length: int) -> _Layout:
    """The heat-maps' grid, figure size and label size for `num_heads` heads over `length` characters."""
    cols = math.ceil(math.sqrt(num_heads))
    rows = math.ceil(num_heads / cols)
    cell = max(0.1, min(0.22, 14 / length))  # inches a character: labels stay legible when zoomed in
    panel = max(4.0, cell * length + 1.5)
    return _Layout(rows, cols, (cols * panel + 1.2, rows * panel + 0.8), min(10.0, cell * 72 * 0.65))


def longest_attention_text(num_heads: int, attn_window: int) -> int:
    """The most characters `plot_attention` draws for a model of `num_heads` heads: its attention
    window, or fewer where the picture would pass MAX_PICTURE_PIXELS (0: not even one fits)."""

    def fits(length: int) -> bool:
        width, height = _attention_layout(num_heads, length).size
        return width * height * DPI**2 <= MAX_PICTURE_PIXELS

    low, high = 0, attn_window  # the picture grows with the length: fits(low), and the answer <= high
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _label_axes(ax, labels: list[str], font_size: float) -> None:
    ax.set_xticks(range(len(labels)), labels, fontsize=font_size)
    ax.set_yticks(range(len(labels)), labels, fontsize=font_size)
    for label in ax.get_xticklabels():
        label.set_rotation(90 if len(label.get_text()) > 2 else 0)  # U+XXXX runs down, not across
    ax.tick_params(length=0, pad=1)
    ax.set_xlabel("position read (its value)")
    ax.set_ylabel("query (predicts the next character)")


def _shorten(text: str, has_glyph: Callable[[str], bool], limit: int = 70) -> str:
    """`text` for a title: newlines as ↵, invisible characters as U+XXXX, cut at `limit` characters."""
    plain = lambda c: c == " " or (unicodedata.category(c).startswith("M") and has_glyph(c))  # noqa: E731
    shown = "".join(c if plain(c) else _display_char(c, has_glyph) for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"
