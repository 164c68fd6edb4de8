"""The network's settings: sizes and regularisation, each with its default, help and range.

Apart from the network (model/network.py) so that the command line can offer them as flags, and
show `--help`, without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import check, setting


@dataclass
class ModelConfig:
    vocab_size: int | None = setting(
        None, "characters in the vocabulary, the unknown slot included (None: the training text's)",
        minimum=1, flag=False,
    )  # fmt: skip
    embed_dim: int = setting(128, "character embedding width", minimum=1)
    hidden_size: int = setting(512, "LSTM width, and attention's", minimum=1)
    num_layers: int = setting(2, "LSTM layers", minimum=1)
    attention: bool = setting(True, "the attention block on top of the LSTM (--no_attention: a plain LSTM)")
    num_heads: int = setting(4, "attention heads", minimum=1)
    attn_window: int = setting(256, "characters attention looks back over, itself included", minimum=1)
    ffn_mult: int = setting(2, "feed-forward width after attention, x hidden_size; 0 = none", minimum=0)
    dropout: float = setting(
        0.2, "variational dropout: LSTM inputs and outputs, residual branches", minimum=0, below=1
    )
    embed_dropout: float = setting(
        0.0, "drop whole characters of the vocabulary from a batch's input (AWD-LSTM)", minimum=0, below=1
    )
    weight_drop: float = setting(0.3, "DropConnect on the LSTM's recurrent weights", minimum=0, below=1)
    shift_keys: bool = setting(
        True, "attention finds the value of position j by the key of position j - 1 (see model.py)"
    )

    def __post_init__(self) -> None:
        check(self, "model setting")
        if self.hidden_size % self.num_heads:
            raise PushkinLMError(
                f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: object) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        if not isinstance(obj, dict) or not set(obj) <= names or "vocab_size" not in obj:
            raise PushkinLMError(f"model config must be a JSON object with keys among {sorted(names)}")
        return cls(**obj)
