"""pushkin-lm: a character-level LSTM + causal self-attention language model of Pushkin's verse.

Modules, one idea each: `vocab` (CharVocab), `data` (corpus and split), `hub` (download),
`model` (ModelConfig, PushkinLM), `train`, `sample`, `evaluate`, `checkpoint`, `cli`.
"""

__version__ = "0.1.0"
