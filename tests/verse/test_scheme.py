"""Rhymes as sound (verse/rhyme.py) and the scheme chosen for the whole stanza (verse/scheme.py)."""

import pytest

from pushkin_lm.verse import rhyme_key, rhyme_scheme, rhymes, scan_stanza
from pushkin_lm.verse.meter import prosody
from pushkin_lm.verse.rhyme import ANY_VOWEL, READ, rhyme_tail, rhyme_tails
from pushkin_lm.verse.scheme import PAIR_PRICE, best_groups, closeness, line_closeness


def near(a: str, b: str) -> float:
    return closeness(rhyme_tail(prosody(a)), rhyme_tail(prosody(b)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Был вечер прекрасный", "Всё было ясно"),  # other unstressed vowels
        ("И злые грозы", "Златые косы"),  # voiced in one, voiceless in the other
        ("В твоих картинах", "Немого палантина"),  # a consonant added at the end
        ("Мой дом знаком", "Опять балкон"),  # a nasal for a nasal
        ("Я к дому бегу", "Моих шагов гул"),  # truncated: the open one's consonant before the vowel
        ("Глохнет мой мятеж", "Из мыслимых одежд"),  # a consonant added to a closed masculine
        ("Дивные стихи", "Сила стихий"),  # open against closed by a й that is not heard
    ],
)
def test_inexact_rhymes_come_near_enough_to_share_a_letter(a: str, b: str) -> None:
    assert not rhymes(a, b)  # the generator's rhymes stay exact
    assert PAIR_PRICE <= near(a, b) < 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Спустилась ночь", "Горел закат"),  # other vowels
        ("Пылает день", "Моя звезда"),  # other endings
        ("Мой друг прекрасный", "Бегут года"),
    ],
)
def test_endings_that_do_not_rhyme_are_not_near(a: str, b: str) -> None:
    assert near(a, b) < PAIR_PRICE


def test_the_key_hears_softness_a_sounded_yot_and_a_written_yo() -> None:
    assert rhyme_key("Синеет даль") != rhyme_key("Он мне сказал")  # даль is not дал
    assert not rhymes("Я слышу пенье", "На белой пене")  # пен'йе
    assert rhymes("Я слышу пенье", "Ты помнишь мгновенье")
    assert not rhymes("Был город посрамлён", "Осталась пыль и тлен")  # a written ё rhymes on о
    assert rhymes("Не знаю ничего", "Оно мертво")  # ничего́ sounds ничево́


def test_another_stress_of_the_rhyme_word_is_read_at_a_price() -> None:
    tails = rhyme_tails(prosody("Мои глаза"))
    assert tails[0][1] == READ and {tier for _, tier in tails[1:]} <= {1, ANY_VOWEL}
    assert len({tail.sound for tail, _ in tails}) == len(tails) == 2  # глаза́, гла́за
    # an exact rhyme on a stress the line's reading did not choose counts, less its price
    wrong = [(rhyme_tail(prosody("Шлепок")), READ)]
    assert line_closeness(wrong, rhyme_tails(prosody("Удар и бок")))[0] == 0.0
    assert line_closeness(rhyme_tails(prosody("Шлепок")), rhyme_tails(prosody("Удар и бок")))[0] >= PAIR_PRICE
    assert rhyme_tails(prosody("Шле\u0301пок"))[1:] == []  # a stress the text marks is the poet's


def test_the_scheme_is_the_best_lettering_of_the_whole_stanza() -> None:
    assert (
        rhyme_scheme(["Был вечер прекрасный", "Горит закат", "И всё так ясно", "Знакомый взгляд"]) == "AbAb"
    )
    # бегу is near гул (truncated) but not уснул, which rhymes гул exactly: the pair that sounds
    # nearer wins, and бегу stays alone, where letters given pair by pair would have joined it to гул
    assert rhyme_scheme(["Моих шагов гул", "Я к дому бегу", "Он вдруг уснул"]) == "a-a"


def test_a_rhyme_settles_the_stress_the_model_reads_wrong() -> None:
    alone = scan_stanza(["Один шлепок"]).lines[0]
    lines = scan_stanza(["Удар и бок", "Горит закат", "Один шлепок", "Знакомый взгляд"]).lines
    assert alone.stressed == "Оди\u0301н шле\u0301пок" and alone.ending == "feminine"  # as the model reads it
    assert lines[2].stressed == "Оди\u0301н шлепо\u0301к" and lines[2].ending == "masculine"
    assert [line.rhyme for line in lines] == ["a", "b", "a", "b"]


def test_a_stanza_of_any_length_is_lettered_in_one_pass() -> None:
    # 5,000 lines of AbAb quatrains with no blank line between them: letters stay open only within
    # the rhyme window, so this costs its length, not its square
    n = 5_000
    window = lambda i: range(max(0, i - 8), min(n, i + 9))  # noqa: E731
    near = [{j: float(abs(i - j) == 2 and i // 4 == j // 4) for j in window(i)} for i in range(n)]
    groups = best_groups(near)
    assert groups[:8] == [0, 1, 0, 1, 2, 3, 2, 3] and len(set(groups)) == n // 2
