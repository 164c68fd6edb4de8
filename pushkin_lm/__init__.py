"""pushkin-lm: a character-level LSTM + causal self-attention language model of Pushkin's verse.

    from pushkin_lm import PushkinLM, generate, scan

    print(generate("Мороз и солнце", max_tokens=200, seed=1))   # the shipped model
    model = PushkinLM.from_pretrained("owner/name")              # or a folder, or a shipped name
    print(model.stanza("onegin", seed=1))
    print(scan("Мой дядя самых честных правил,\\nКогда не в шутку занемог").stanzas[0].scheme)

The three are imported when first used, so that `import pushkin_lm` (and the command line's
`--help`) stays instant: PushkinLM and generate need torch, scan the stress model. The layers
below them are described in docs/architecture.md.
"""

from importlib import import_module
from typing import Any

from pushkin_lm.core.version import VERSION as __version__

__all__ = ["PushkinLM", "generate", "scan", "__version__"]

_LAZY = {
    "PushkinLM": ("pushkin_lm.publish.pretrained", "PushkinLM"),
    "generate": ("pushkin_lm.publish.pretrained", "generate"),
    "scan": ("pushkin_lm.verse", "scan_text"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pushkin_lm' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
