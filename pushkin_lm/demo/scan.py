"""The demo's scansion of what it wrote: `pushkin_lm.verse` read out as Markdown tables."""

from __future__ import annotations

import logging
import re
import threading

MAX_SCAN_LINES = 60  # the scansion shows the last lines of a longer text
SCAN_HEADER = "| rhyme | syllables | meter | stresses |"
_MARKDOWN = re.compile(r"[\\`*_{}\[\]<>|~^#]")  # characters that would format a table cell
log = logging.getLogger(__name__)


def scansion(text: str | None) -> str:
    """The last MAX_SCAN_LINES lines of `text` scanned: per stanza its rhyme scheme, then a table of
    its lines with their rhyme letters, syllables, meter and stresses. Never raises: the scansion is
    a side dish, and the verse must not be lost over it."""
    from pushkin_lm.verse import scan_text

    lines = (text or "")[-MAX_SCAN_LINES * 100 :].splitlines()[-MAX_SCAN_LINES:]
    try:
        scanned = scan_text("\n".join(lines))
    except Exception:
        log.exception("scansion failed")
        return "(no scansion: the stress model failed)"
    out = []
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
