"""Verse analysis on well-known public-domain lines: Pushkin, Lermontov, I. Makarov's "Однозвучно"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pushkin_lm.verse import (
    breaks_meter,
    fits_meter,
    rhyme_key,
    rhyme_scheme,
    rhymes,
    scan_line,
    scan_stanza,
    scan_text,
    vowel_count,
    word_stress,
)

ONEGIN = [
    "Мой дядя самых честных правил,",
    "Когда не в шутку занемог,",
    "Он уважать себя заставил",
    "И лучше выдумать не мог.",
]
WINTER_EVENING = [
    "Буря мглою небо кроет,",
    "Вихри снежные крутя;",
    "То, как зверь, она завоет,",
    "То заплачет, как дитя",
]


@pytest.mark.parametrize(
    "line, meter, feet, ending, syllables",
    [
        ("Мой дядя самых честных правил,", "iamb", 4, "feminine", 9),
        ("И лучше выдумать не мог.", "iamb", 4, "masculine", 8),
        ("Буря мглою небо кроет,", "trochee", 4, "feminine", 8),
        ("Вихри снежные крутя;", "trochee", 4, "masculine", 7),
        ("Выхожу один я на дорогу;", "trochee", 5, "feminine", 10),
        ("Однозвучно гремит колокольчик,", "anapest", 3, "feminine", 10),
        ("Тучки небесные, вечные странники!", "dactyl", 4, "dactylic", 12),
        ("На севере диком стоит одиноко", "amphibrach", 4, "feminine", 12),
    ],
)
def test_known_lines_scan(line, meter, feet, ending, syllables):
    scan = scan_line(line)
    assert (scan.meter, scan.feet, scan.ending, scan.syllables) == (meter, feet, ending, syllables)


def test_syllables_are_vowels():
    assert vowel_count("Ещё") == 2
    assert vowel_count("Мглою") == 2
    assert vowel_count("вихрь") == 1
    assert scan_line("В").syllables == 0


def test_stressed_marks_polysyllables_only_and_not_yo():
    assert scan_line("Мой дядя самых честных правил").stressed == "Мой дя́дя са́мых че́стных пра́вил"
    assert scan_line("И кланяться непринуждённо").stressed == "И кла́няться непринуждённо"


def test_homograph_takes_the_stress_the_meter_needs():
    assert "стои́т" in scan_line("На севере диком стоит одиноко").stressed


def test_stress_mark_in_the_text_wins():
    assert word_stress("за́мок") == 0
    assert word_stress("замо́к") == 1
    assert word_stress("ёлка") == 0


def test_fits_meter():
    assert fits_meter("Мой дядя самых честных правил", "iamb", 4)
    assert not fits_meter("Мой дядя самых честных правил", "iamb", 5)
    assert fits_meter("Буря мглою небо кроет", "trochee", 4)
    # Бу́ря stresses the first syllable, a weak position of the iamb
    assert not fits_meter("Буря мглою небо кроет", "iamb", 4)


def test_pyrrhic_feet_and_free_monosyllables():
    # two real stresses in four iambic feet: the missed ictuses are pyrrhic feet
    assert fits_meter("И кланяться непринуждённо", "iamb", 4)
    # one-syllable words may stand on weak positions: "Мой", "Он"
    assert fits_meter("Он уважать себя заставил", "iamb", 4)


def test_line_end_enclitic_and_particle():
    assert (scan_line("Куда ж нам плыть?").meter, scan_line("Куда ж нам плыть?").ending) == (
        "iamb",
        "masculine",
    )
    assert scan_line("Не правда ли?").ending == "dactylic"
    assert scan_line("Скажи-ка, дядя, ведь не даром").meter == "iamb"


@pytest.mark.parametrize("stanza", [ONEGIN, WINTER_EVENING])
def test_quatrain_schemes(stanza):
    assert rhyme_scheme(stanza) == "AbAb"


def test_letters_follow_first_appearance():
    assert rhyme_scheme([ONEGIN[0], ONEGIN[1], ONEGIN[3], ONEGIN[2]]) == "AbbA"
    assert rhyme_scheme([ONEGIN[1], ONEGIN[0], ONEGIN[3], ONEGIN[2]]) == "aBaB"


def test_same_final_word_is_no_rhyme_to_write_but_a_refrain_to_letter():
    assert not rhymes("И лучше выдумать не мог.", "Никто помочь ему не мог.")  # the generator's test
    # A scheme letters what a reader hears return: a repeated end word too, if nothing rhymes better.
    assert rhyme_scheme(["Я помню чудное мгновенье", "Я помню чудное мгновенье"]) == "AA"
    stanza = [
        "Я помню чудное мгновенье",
        "Я помню чудное мгновенье",
        "Как гений чистой красоты",
        "Мелькнуло виденье",
    ]
    assert rhyme_scheme(stanza) == "AA-A"


def test_line_without_partner():
    stanza = [ONEGIN[0], ONEGIN[1], ONEGIN[2], WINTER_EVENING[0]]
    assert rhyme_scheme(stanza) == "A-A-"
    assert [line.rhyme for line in scan_stanza(stanza).lines] == ["A", None, "A", None]


def test_rhyme_key_devoices_and_reduces():
    assert rhyme_key("Осенний сад") == rhyme_key("Знакомый взгляд") == "ат"
    assert rhyme_key("Зеленый луг") == "ук"
    assert rhymes("Зеленый луг", "Мой верный друг")
    assert rhymes("В широком поле", "По доброй воле")  # unstressed е and и after the stress
    assert rhymes("Не видел он коня живого", "Не молвил он ни слова")  # the genitive -ого sounds -ово


def test_open_masculine_rhyme_needs_its_supporting_consonant():
    assert rhymes("Светла луна", "Родна страна")
    assert not rhymes("Светла луна", "Сыра земля")
    assert not rhymes("Светла луна", "Родимый край")  # closed by й: not an open rhyme
    assert rhyme_key("Светла луна") == "на"
    # a vowel after a vowel has no consonant to support: Pushkin's "мои / любви"
    assert rhymes("Медлительно влекутся дни мои", "Все горести несчастливой любви")


def test_stressed_e_read_as_yo_rhymes_either_way():
    assert rhymes("Быть может, он для славы был рожден", "Гремучий, непрерывный звон")
    assert rhymes("Волненьем жизни утомленный", "Лида, друг мой неизменный")
    assert not rhymes("Шумит осенний лес", "Покрыт морозом нос")


def test_hyphenated_nibud_carries_the_rhyme():
    line = "Плетется рысью как-нибудь"
    assert (scan_line(line).meter, scan_line(line).feet, scan_line(line).ending) == ("iamb", 4, "masculine")
    assert rhymes("На дровнях обновляет путь", line)


def test_stanza_reads_lines_in_its_dominant_meter():
    lonely = "И кланяться непринуждённо"
    assert scan_line(lonely).meter == "iamb"
    stanza = [
        "На севере диком стоит одиноко",
        "На голой вершине сосна",
        "И дремлет, качаясь, и снегом сыпучим",
        lonely,
    ]
    assert [line.meter for line in scan_stanza(stanza).lines] == ["amphibrach"] * 4


def test_scan_text_json_shape():
    text = "\n".join(ONEGIN) + "\n\n" + "\n".join(WINTER_EVENING) + "\n\n</s>\n\nВыхожу один я на дорогу\n"
    result = json.loads(json.dumps(scan_text(text).to_dict(), ensure_ascii=False))
    assert set(result) == {"stanzas", "summary"}
    assert [s["scheme"] for s in result["stanzas"]] == ["AbAb", "AbAb", "-"]
    first = result["stanzas"][0]["lines"][0]
    assert first == {
        "text": ONEGIN[0],
        "stressed": "Мой дя́дя са́мых че́стных пра́вил,",
        "syllables": 9,
        "meter": "iamb",
        "feet": 4,
        "ending": "feminine",
        "rhyme": "A",
    }
    summary = result["summary"]
    assert (summary["lines"], summary["stanzas"]) == (9, 3)
    assert summary["meters"] == {"iamb4": 4, "trochee4": 4, "trochee5": 1}
    assert summary["schemes"] == {"AbAb": 2, "-": 1}


def test_empty_and_vowelless_lines():
    scan = scan_line("")
    assert (scan.syllables, scan.meter, scan.feet, scan.ending) == (0, None, None, None)
    assert rhyme_key("...") == ""
    assert rhyme_scheme([]) == ""


ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter (from the repository root) and return its output."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_does_not_load_the_stress_model():
    assert _python("import sys, pushkin_lm.verse; print('silero_stress' in sys.modules)") == "False"


def test_model_load_keeps_torch_threads_and_autograd():
    # silero-stress sets one thread and turns autograd off process-wide; verse must put both back
    out = _python(
        """
        import torch
        torch.set_num_threads(2)
        from pushkin_lm.verse import model_load_seconds, word_stress
        assert word_stress("зюзюкала") is not None  # not in the lexicon: the model loads
        print(torch.get_num_threads(), torch.is_grad_enabled(), model_load_seconds() > 0)
        """
    )
    assert out == "2 True True"


def test_a_line_breaks_the_meter_at_the_word_whose_one_stress_is_on_a_weak_position():
    assert not breaks_meter("Мой дядя ", "iamb")  # дя́дя: syllable 2, strong in the iamb
    assert breaks_meter("Мой дядя ", "trochee")  # and weak in the trochee
    assert breaks_meter("Буря ", "iamb") and not breaks_meter("Буря ", "trochee")
    assert breaks_meter("И буря, ", "trochee")  # punctuation after the word changes nothing
    # free: one-syllable words, verse's unstressed function words, a hyphen-attached particle
    assert not any(breaks_meter(head, "iamb") for head in ("Он ", "Между ", "Что-то ", "Скажи-ка "))
    # only the text after the last space is read: a line that broke earlier is the caller's to drop
    assert not breaks_meter("Буря мой ", "iamb")


def test_a_word_the_lexicon_lacks_is_free_before_and_after_the_model_is_asked(monkeypatch):
    from pushkin_lm.verse import stress

    monkeypatch.setattr(stress, "model_stresses", lambda words: pytest.fail(f"the model was asked {words}"))
    assert stress.settled_options(["зюзюкалка", "дядя", "он"]) == [(), (0,), (0,)]
    assert not breaks_meter("Зюзюкалка ", "iamb")  # unknown: free, whatever its stress
    monkeypatch.undo()
    assert word_stress("зюзюкалка") is not None  # the model's answer, now in the cache
    # the same answer as before it was asked: what a generator drops does not depend on history
    assert stress.settled_options(["зюзюкалка"]) == [()]
