"""Training progress as a user watches it: on a terminal, and redirected to a file."""

import io

from pushkin_lm.core.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_bar_says_when_it_evaluates_and_has_no_stray_space():
    screen = Terminal()
    progress = Progress(True, print, screen)
    progress.update(0.5, 10, 1.234, 1e-3)
    progress.evaluating(10, final=True)
    progress.close()
    shown = screen.getvalue()
    assert "step 10 | evaluating (final)…" in shown
    assert ", step 10 loss 1.234" in shown and " , step" not in shown


def test_redirected_the_final_evaluation_has_a_line_and_the_others_none():
    log = io.StringIO()
    progress = Progress(True, print, log)
    progress.evaluating(5, final=False)
    progress.evaluating(9, final=True)
    progress.close()
    assert log.getvalue() == "step 9 | final evaluation…\n"
