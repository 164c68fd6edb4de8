"""How the demo shows what it wrote: the verse with its poem breaks drawn as such, and its scansion
(`pushkin_lm.verse` read out as Markdown tables)."""

from __future__ import annotations

import logging
import re
import threading

from pushkin_lm.verse.stanza import POEM_SEPARATOR

MAX_SCAN_LINES = 60  # the scansion shows the last lines of a longer text, and says so
MAX_LINE_CHARS = 100  # a longer line counts as this many characters in the scansion's slice
SCAN_HEADER = "| rhyme | syllables | meter | stresses |"
POEM_MARK = "* * *"  # how Russian verse books mark a new untitled poem; the page shows it for </s>
_SEPARATOR_LINE = re.compile(rf"^[ \t]*{re.escape(POEM_SEPARATOR)}[ \t]*$", re.MULTILINE)
_MARKDOWN = re.compile(r"[\\`*_{}\[\]<>|~^#]")  # characters that would format a table cell
log = logging.getLogger(__name__)


def shown(text: str, final: bool = True) -> str:
    """`text` as the Verse box shows it: each corpus line `</s>` between poems drawn as POEM_MARK.
    While writing (`final` False) a last line that may be a `</s>` still being written is held
    back, so that "</" never flashes up before it turns into the mark."""
    text = _SEPARATOR_LINE.sub(POEM_MARK, text)
    if not final:
        tail = text.rpartition("\n")[2]
        if tail and POEM_SEPARATOR.startswith(tail.lstrip(" \t")):
            return text[: len(text) - len(tail)]
    return text


def scansion(text: str | None) -> str:
    """The last MAX_SCAN_LINES lines of `text` scanned: per stanza its rhyme scheme, then a table of
    its lines with their rhyme letters, syllables, meter and stresses; a longer text's scansion
    first says it covers only its end. Never raises: the scansion is a side dish, and the verse
    must not be lost over it."""
    from pushkin_lm.verse import scan_text

    every = (text or "").splitlines()  # bounded: a request is at most 12,000 characters
    lines = (text or "")[-MAX_SCAN_LINES * MAX_LINE_CHARS :].splitlines()[-MAX_SCAN_LINES:]
    try:
        scanned = scan_text("\n".join(lines))
    except Exception:
        log.exception("scansion failed")
        return "(no scansion: the stress model failed)"
    out = (
        [f"*scansion of the last {len(lines)} of {len(every):,} lines*", ""]
        if len(lines) < len(every)
        else []
    )
    for stanza in scanned.stanzas:
        out += [f"scheme **{stanza.scheme}**", "", SCAN_HEADER, "|-|-|-|-|"]
        for line in stanza.lines:
            meter = f"{line.meter} {line.feet}" if line.meter else "—"
            cells = (line.rhyme or "—", str(line.syllables), meter, escaped(line.stressed))
            out.append(f"| {' | '.join(cells)} |")
        out.append("")
    return "\n".join(out).strip()


def escaped(text: str) -> str:
    """`text` as literal Markdown, safe in a table cell."""
    return _MARKDOWN.sub(r"\\\g<0>", text)


def warm_up() -> threading.Thread:
    """Load the stress model in the background (it takes seconds the first time)."""

    def load() -> None:
        from pushkin_lm.verse import scan_text

        try:
            scan_text("Мой дядя самых честных правил")
        except Exception:  # the first real scansion will say so
            log.exception("the stress model did not load")

    thread = threading.Thread(target=load, name="stress-model")  # a daemon thread in torch at exit aborts
    thread.start()
    return thread
