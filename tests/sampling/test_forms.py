"""Verse in fixed forms: the decoder's lanes, the lane sampler, and stanzas from the shipped model.

Every line of verse here is written in this file (made up, or the opening of Onegin, public
domain); none is read from the corpus.
"""

from __future__ import annotations

import argparse

import pytest
import torch

from pushkin_lm.cli import generate as generate_command
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling import forms
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.forms import _names, _Pool, generate_form
from pushkin_lm.sampling.lines import LINE_END_MARKS, sample_lines
from pushkin_lm.sampling.sample import sample_many
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.verse import rhyme_scheme, rhymes, scan_line, vowel_count
from pushkin_lm.verse.forms import FORMS, chosen_form, parse_meter


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread, as `pushkin-lm generate` runs: steps this small lose more to a second thread
    contending on a busy machine than they gain (a tiny-model step: 1 ms, against 15 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ the decoder's lanes (tiny model)


def single_runs(model, prompt: list[int], continuations: torch.Tensor) -> torch.Tensor:
    """Logits (lanes, steps, vocab) of one single-lane decoder per row of `continuations`."""
    out = []
    for row in continuations:
        decoder = Decoder(model, int8=False)
        decoder.read(prompt)
        out.append(torch.stack([decoder.step(int(i)) for i in row]))
    return torch.stack(out)


@pytest.mark.parametrize("prompt_length", [1, 5, 30])
def test_lanes_equal_single_lane_stepping(tiny_model, prompt_length):
    # 30 steps against the tiny model's window of 12: the shared ring's positions leave the window
    # one by one while the lanes' own positions wrap around their ring.
    model, vocab = tiny_model
    torch.manual_seed(1)
    prompt = torch.randint(1, len(vocab), (prompt_length,)).tolist()
    continuations = torch.randint(1, len(vocab), (3, 30))
    decoder = Decoder(model, int8=False)
    decoder.read(prompt)
    decoder.fork(3)
    lanes = torch.stack([decoder.step_many(continuations[:, t]) for t in range(30)], 1)
    torch.testing.assert_close(lanes, single_runs(model, prompt, continuations), atol=1e-5, rtol=1e-5)


def test_keep_and_select_continue_from_the_chosen_lanes(tiny_model):
    model, vocab = tiny_model
    prompt, steps = [3, 4, 5], torch.tensor([[6, 7, 8, 9], [10, 11, 12, 13], [14, 15, 16, 17]])
    decoder = Decoder(model, int8=False)
    decoder.read(prompt)
    decoder.fork(3)
    for t in range(4):
        decoder.step_many(steps[:, t])
    decoder.select([2, 0, 0])  # reorder and repeat
    assert decoder.lanes == 3
    after = decoder.step_many(torch.tensor([20, 21, 22]))
    expected = single_runs(model, prompt, torch.cat([steps[[2, 0, 0]], torch.tensor([[20], [21], [22]])], 1))
    torch.testing.assert_close(after, expected[:, -1], atol=1e-5, rtol=1e-5)
    decoder.keep(1)  # lane 1 is now the old lane 0 followed by 21
    assert decoder.lanes == 1
    torch.testing.assert_close(
        decoder.step(23), single_runs(model, prompt, torch.tensor([[6, 7, 8, 9, 21, 23]]))[0, -1]
    )


def test_unfork_returns_to_the_state_at_the_fork(tiny_model):
    model, _ = tiny_model
    decoder = Decoder(model, int8=False)
    decoder.read([3, 4, 5])
    decoder.fork(4)
    for _ in range(15):
        decoder.step_many(torch.tensor([6, 7, 8, 9]))
    decoder.unfork()
    torch.testing.assert_close(decoder.step(10), single_runs(model, [3, 4, 5], torch.tensor([[10]]))[0, 0])


def test_lane_misuse_is_refused(tiny_model):
    decoder = Decoder(tiny_model[0], int8=False)
    decoder.read([3])
    with pytest.raises(PushkinLMError, match="fork"):
        decoder.step_many(torch.tensor([1, 2]))
    decoder.fork(2)
    with pytest.raises(PushkinLMError, match="step_many"):
        decoder.step(4)
    with pytest.raises(PushkinLMError, match="select one"):
        decoder.fork(2)


def test_int8_lanes_stay_close_to_one_int8_lane(tiny_model):
    # 8 lanes take the batched int8 path; its activations are quantised per batch, not per row.
    model, vocab = tiny_model
    decoder = Decoder(model, int8=True)
    decoder.read([3, 4, 5])
    decoder.fork(8)
    ids = torch.arange(1, 9)
    lanes = torch.stack([decoder.step_many(ids) for _ in range(3)], 1)
    single = []
    for i in ids.tolist():
        decoder_one = Decoder(model, int8=True)
        decoder_one.read([3, 4, 5])
        single.append(torch.stack([decoder_one.step(i) for _ in range(3)]))
    assert (lanes - torch.stack(single)).abs().max() < 0.05 * lanes.std()


def test_sample_many_keeps_each_row_to_its_own_allowed_ids():
    torch.manual_seed(0)
    logits = torch.randn(6, 20)
    logits[torch.arange(6), torch.arange(6)] = float("-inf")  # row i may never draw id i
    generator = torch.Generator().manual_seed(5)
    for settings in (SampleConfig(temperature=3.0), SampleConfig(top_k=4), SampleConfig(top_p=0.6)):
        top = logits.topk(4, dim=1).indices
        for _ in range(50):
            drawn = sample_many(logits, settings, generator)
            assert all(drawn[i] != i for i in range(6))
            if settings.top_k:
                assert all(drawn[i] in top[i] for i in range(6))


def test_sample_lines_leaves_the_decoder_as_it_was(tiny_model):
    model, vocab = tiny_model
    decoder = Decoder(model, int8=False)
    logits = decoder.read(vocab.encode("луна мороз\n"))
    lines = sample_lines(decoder, vocab, logits, SampleConfig(seed=0), torch.Generator().manual_seed(0))
    assert all(isinstance(text, str) and "\n" not in text for text, _ in lines)
    torch.testing.assert_close(decoder.step(vocab.encode("л")[0]), single_runs(
        model, vocab.encode("луна мороз\n"), torch.tensor([vocab.encode("л")]))[0, 0])  # fmt: skip


def test_lanes_with_endings_end_on_one_of_their_words_after_a_head_of_its_length(tiny_model):
    model, vocab = tiny_model
    decoder = Decoder(model, int8=False)
    logits = decoder.read(vocab.encode("луна мороз\n"))
    endings = {2: ["мороз", "мороза"], 3: ["луна"]}  # "мороз" also begins "мороза": both may end
    lines = sample_lines(
        decoder, vocab, logits, SampleConfig(seed=0), torch.Generator().manual_seed(0), "", 99, [endings] * 32
    )
    assert lines
    for text, score in lines:
        words = text.rstrip("".join(LINE_END_MARKS)).split(" ")
        assert words[-1] in endings[vowel_count(" ".join(words[:-1]))]
        assert score < 0  # the log-probability of the line as written, confinement or not


def test_a_lane_whose_beginning_fails_the_test_at_a_word_end_is_dropped(tiny_model):
    model, vocab = tiny_model
    decoder = Decoder(model, int8=False)
    logits = decoder.read(vocab.encode("луна мороз\n"))
    asked = []

    def one_word(head: str) -> bool:  # a line may have one word before its last
        asked.append(head)
        return len(head.split()) < 2

    generator = torch.Generator().manual_seed(0)
    lines = sample_lines(decoder, vocab, logits, SampleConfig(seed=0), generator, viable=one_word)
    assert asked and all(head.endswith(" ") for head in asked)  # asked at each word's end
    assert any(len(head.split()) >= 2 for head in asked)  # and some lanes were dropped for it
    assert all(len(text.split()) <= 2 for text, _ in lines)


def test_a_lane_takes_its_ending_only_where_the_caller_lets_it(tiny_model):
    model, vocab = tiny_model
    decoder = Decoder(model, int8=False)
    logits = decoder.read(vocab.encode("луна мороз\n"))
    endings = [{2: ["мороз"], 3: ["луна"]}] * 32
    generator = torch.Generator().manual_seed(0)
    heads = []

    def after_one_word(head: str) -> bool:
        heads.append(head)
        return len(head.split()) > 1

    lines = sample_lines(
        decoder, vocab, logits, SampleConfig(seed=0), generator, "", 99, endings, None, after_one_word
    )
    assert heads and all(len(text.split()) >= 3 for text, _ in lines)  # two words or more, then the ending
    none = sample_lines(
        decoder, vocab, logits, SampleConfig(seed=0), generator, "", 99, endings, None, lambda h: False
    )
    assert none == []  # a lane with endings ends only on one of them


def test_a_rhyme_word_never_follows_an_adjective_at_once():
    assert not forms._may_rhyme_after("Для сердца нет бесплодной ")
    assert not forms._may_rhyme_after("Склонясь на грудь мою ")
    assert not forms._may_rhyme_after("И ТИХОЙ ")  # any case
    assert forms._may_rhyme_after("Для сердца нет ")
    assert forms._may_rhyme_after("В тоске бесплодной, ")  # a comma parts them: no pair to agree


def test_a_lane_writes_a_line_where_the_model_would_end_it_at_once(tiny_model):
    """Where the model wants a blank line (a corpus stanza's end), every lane used to be dropped at
    its first character, round after round, and the stanza failed; a line with no vowel yet may not
    end, so each lane writes one."""
    model, vocab = tiny_model
    decoder = Decoder(model, int8=False)
    logits = decoder.read(vocab.encode("луна мороз\n"))
    logits = logits.clone()
    logits[..., vocab.encode("\n")[0]] = 1e4  # the newline all but certain
    lines = sample_lines(decoder, vocab, logits, SampleConfig(seed=0), torch.Generator().manual_seed(0))
    assert len(lines) >= 16 and all(vowel_count(text) > 0 for text, _ in lines)


def test_the_rhyme_pool_keeps_the_capital_of_a_name_not_of_a_line_start():
    pool = _Pool()
    pool.add(["Луна взошла, и спит Татьяна", "Луна сияет над рекой", "Одна луна, одна страна"])
    assert pool.rhymes_for("И мне приснилась та поляна") == ["Татьяна"]
    assert pool.rhymes_for("Она") == ["луна", "одна", "страна"]


def test_the_rhyme_pool_keeps_no_capital_of_a_sentence_start_inside_a_line():
    # «Если» after a question, or after a full stop and a dash, begins a sentence: no name; «Ольга»
    # after a word or a comma and a quote is one
    assert _names("Ты знал? Если бы… Нет. — Если б, «Ольга», и Ленский") == ["ольга", "ленский"]
    pool = _Pool()
    pool.add(["Ты знал? Если бы я знал", "Я так устал. — Если б Ольга"])
    assert pool.names == {"ольга"}


SHORT, LONG = "И лучше выдумать не мог", "Когда же чёрт возьмёт тебя"  # both iambic tetrameter


def _rounds_of(monkeypatch, *rounds: list[tuple[str, float]], before: tuple[str, ...] = ()) -> str:
    """The line _next_line chooses after the lines `before` (no rhyme asked of it) when its rounds
    of lanes write `rounds` (and nothing after them)."""
    from pushkin_lm.sampling.forms import _next_line, _Slot

    written = iter([*rounds, *[[]] * forms.MIN_ROUNDS])
    monkeypatch.setattr(forms, "sample_lines", lambda *args: next(written))
    slot = _Slot("abcd", len(before), parse_meter("iamb4"), list(before))
    return _next_line(None, None, None, SampleConfig(), torch.Generator(), "", slot, _Pool())


def test_the_line_chosen_is_the_likeliest_per_character(monkeypatch):
    # the short line is likelier in all (-28 against -30), the long one per character (-1.15 against -1.22)
    assert _rounds_of(monkeypatch, [(SHORT, -28.0), (LONG, -30.0)]) == LONG


def test_a_line_is_chosen_among_the_lines_of_the_first_rounds(monkeypatch):
    between = [[]] * (forms.MIN_ROUNDS - 2)  # rounds that pass nothing
    assert _rounds_of(monkeypatch, [(SHORT, -28.0)], *between, [(LONG, -30.0)]) == LONG
    assert _rounds_of(monkeypatch, [(LONG, -30.0)], *between, [(SHORT, -28.0)]) == LONG


def test_a_first_round_that_passes_enough_lines_is_chosen_from_alone(monkeypatch):
    more = ["С больным сидеть и день и ночь", "Не отходя ни шагу прочь", "Когда не в шутку занемог"]
    first = [(SHORT, -30.0), (LONG, -31.0), *((line, -40.0) for line in more)][: forms.ENOUGH_LINES]
    assert len(first) == forms.ENOUGH_LINES  # LONG is the likeliest per character of these
    assert _rounds_of(monkeypatch, first, [("Он уважать себя не мог", -1.0)]) == LONG


def test_a_line_that_opens_as_an_earlier_one_is_chosen_last(monkeypatch):
    before = ("Когда же ветер злой подул",)  # the long line opens with its «когда же»
    assert _rounds_of(monkeypatch, [(SHORT, -30.0), (LONG, -28.0)], before=before) == SHORT
    assert _rounds_of(monkeypatch, [(LONG, -28.0)], before=before) == LONG  # if nothing else passes


def test_a_line_near_another_letter_s_line_is_refused():
    from pushkin_lm.sampling.forms import _Slot
    from pushkin_lm.verse import rhymes
    from pushkin_lm.verse.forms import parse_meter

    # the first b of aabb may not sound near the a lines: scan would letter an inexact rhyme with
    # them (балкон / знаком, nasal for nasal), and the stanza would read as another scheme
    slot = _Slot("aabb", 2, parse_meter("iamb4"), ["Стоит над лесом тихий дом,", "Он мне давно уже знаком."])
    assert slot.accepts("И ветер мчится над рекой")
    assert not rhymes(slot.before[1], "Я вижу старый тот балкон")  # no exact rhyme: that was all
    assert not slot.accepts("Я вижу старый тот балкон")


def test_the_rhyme_pool_offers_no_word_that_cannot_carry_a_rhyme():
    pool = _Pool()
    pool.add(["Когда бы мне мольбы", "Ушли бы мы на бы", "Не вы ли и гробы"])
    # "бы" leans on the word before, which then carries the rhyme; "и", "на" end no line
    assert pool.rhymes_for("Забыты бурны и мольбы") == ["гробы"]
    assert pool.rhymes_for("Стоят они одни") == [] and pool.rhymes_for("Она") == []


# ------------------------------------------------------------------ flags


@pytest.mark.parametrize("bad", ["iamb", "spondee4", "iamb0", "iamb 4 feet", "4iamb", ""])
def test_bad_meters_are_refused_in_one_line(bad):
    with pytest.raises(PushkinLMError) as error:
        parse_meter(bad)
    assert "\n" not in str(error.value) and "iamb4" in str(error.value)


def test_meter_values_parse():
    assert (parse_meter("iamb4").name, parse_meter("iamb4").feet) == ("iamb", 4)
    assert parse_meter("Dactyl3").syllables(feminine=True) == 8
    assert parse_meter("iamb4").syllables(feminine=False) == 8


def test_form_flags_and_their_checks():
    parser = argparse.ArgumentParser()
    generate_command.flags(parser)
    args = parser.parse_args([])
    assert (args.form, args.meter) == ("free", None)
    assert chosen_form(args.form, args.meter) is None  # free: today's generation
    assert chosen_form("onegin", None) == ("onegin", "iamb4")
    assert chosen_form("abab", "trochee4") == ("abab", "trochee4")
    with pytest.raises(PushkinLMError, match="needs a stanza --form"):
        chosen_form("free", "iamb4")
    with pytest.raises(PushkinLMError):
        chosen_form("onegin", "iambic")
    with pytest.raises(SystemExit):
        parser.parse_args(["--form", "sonnet"])


# ------------------------------------------------------------------ stanzas from the shipped model


@pytest.fixture(scope="module")
def shipped() -> tuple[Decoder, object]:
    shipped = load_checkpoint()
    return Decoder(shipped.model), shipped.vocab


@pytest.fixture(scope="module")
def onegin_stanza(shipped) -> list[str]:
    decoder, vocab = shipped
    stanza = generate_form(decoder, vocab, "", SampleConfig(seed=7), "onegin", "iamb4")
    return "".join(stanza).splitlines()


def test_an_onegin_stanza_passes_the_checker(onegin_stanza):
    scheme = FORMS["onegin"]
    assert len(onegin_stanza) == 14
    for line, letter in zip(onegin_stanza, scheme, strict=True):
        scan = scan_line(line, "iamb", 4)
        ending = "feminine" if letter.isupper() else "masculine"
        assert (scan.meter, scan.feet, scan.ending, scan.syllables) == (
            "iamb",
            4,
            ending,
            8 + letter.isupper(),
        )
    assert rhyme_scheme(onegin_stanza) == scheme


def test_the_same_seed_gives_the_same_stanza(shipped, onegin_stanza):
    decoder, vocab = shipped
    again = "".join(generate_form(decoder, vocab, "", SampleConfig(seed=7), "onegin", "iamb4")).splitlines()
    assert again == onegin_stanza


def test_the_prompt_lines_count_and_a_partial_line_is_completed(shipped):
    decoder, vocab = shipped
    prompt = "Луна сияет над рекою,\nИ тихо дремлет старый сад,\nИ"
    pieces = list(generate_form(decoder, vocab, prompt, SampleConfig(seed=1), "abab", "iamb4"))
    assert len(pieces) == 2 and all(p.endswith("\n") for p in pieces)
    lines = (prompt + "".join(pieces)).splitlines()
    assert lines[2].startswith("И") and rhymes(lines[0], lines[2]) and rhymes(lines[1], lines[3])


def test_a_full_prompt_is_refused(shipped):
    decoder, vocab = shipped
    with pytest.raises(PushkinLMError, match="already has 4 lines"):
        generate_form(decoder, vocab, "а\nб\nв\nг\n", SampleConfig(seed=1), "abab")  # at once, not lazily


def test_a_meter_no_line_of_the_model_scans_in_is_refused(shipped, monkeypatch):
    monkeypatch.setattr(forms, "MAX_ROUNDS", 1)  # one round of candidates, to keep the test short
    decoder, vocab = shipped
    with pytest.raises(
        PushkinLMError,
        match=r"none of 32 lines this model wrote scans as dactyl9 \(26 syllables\); choose another --meter",
    ):
        list(generate_form(decoder, vocab, "", SampleConfig(seed=1), "abab", "dactyl9"))
    # the default meter failing is this stanza's bad luck, not the meter's: another seed is the fix
    monkeypatch.setattr(forms, "fits_meter", lambda *_: False)
    with pytest.raises(PushkinLMError, match=r"scans as iamb4 \(9 syllables\); try another --seed$"):
        list(generate_form(decoder, vocab, "", SampleConfig(seed=1), "abab"))
