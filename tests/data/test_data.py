import pytest
import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import random_windows, resolve_data_path, split_train_val


def test_split_is_first_90_percent_then_last_10():
    ids = torch.arange(1000)
    train, val = split_train_val(ids, 0.1)
    assert train.tolist() == list(range(900)) and val.tolist() == list(range(900, 1000))


def test_text_splits_where_its_ids_split():
    text = "абвгд\n" * 171  # 1,026 characters: the cut falls inside a line
    train, val = split_train_val(text, 0.1)
    train_ids, val_ids = split_train_val(torch.arange(len(text)), 0.1)
    assert train + val == text and (len(train), len(val)) == (len(train_ids), len(val_ids)) == (923, 103)


def test_windows_are_contiguous_with_targets_shifted_by_one():
    ids = torch.arange(100)
    x, y = random_windows(ids, block_size=10, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)


def test_a_folder_resolves_to_its_train_txt(tmp_path):
    (tmp_path / "train.txt").write_text("текст", encoding="utf-8")
    assert resolve_data_path(tmp_path) == tmp_path / "train.txt"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"\x00\x01\x02abc", "binary"),
        ("текст".encode("cp1251"), "not UTF-8"),
    ],
)
def test_unreadable_texts_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(PushkinLMError, match=message):
        read_text(path)


def test_missing_path_and_folder_without_train_txt(tmp_path):
    with pytest.raises(PushkinLMError, match="does not exist"):
        resolve_data_path(tmp_path / "nope.txt")
    with pytest.raises(PushkinLMError, match="no train.txt"):
        resolve_data_path(tmp_path)


def test_consecutive_windows_continue_each_row_until_a_new_pass():
    from pushkin_lm.data.corpus import ConsecutiveWindows

    rows = ConsecutiveWindows(torch.arange(200), block_size=5, batch_size=3, generator=torch.Generator())
    x1, y1, fresh1 = rows.next()
    x2, _, fresh2 = rows.next()
    assert fresh1 and not fresh2
    assert torch.equal(y1, x1 + 1) and torch.equal(x2[:, 0], x1[:, -1] + 1)
    passes = [rows.next()[2] for _ in range(40)]
    assert any(passes)  # a lane that runs out starts a new pass


def test_consecutive_windows_refuse_a_text_too_short_for_the_lanes_naming_a_batch_that_fits():
    from pushkin_lm.data.corpus import ConsecutiveWindows

    with pytest.raises(PushkinLMError, match="too short.*pass --batch_size 3,"):
        ConsecutiveWindows(torch.arange(50), block_size=10, batch_size=8, generator=torch.Generator())
    ConsecutiveWindows(torch.arange(50), block_size=10, batch_size=3, generator=torch.Generator())  # it fits
    with pytest.raises(PushkinLMError, match="pass a --block_size below 30"):
        ConsecutiveWindows(torch.arange(50), block_size=30, batch_size=1, generator=torch.Generator())
