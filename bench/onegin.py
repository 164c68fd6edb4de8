"""Onegin's first stanza (Pushkin, public domain): the verse bench scripts time and measure on.

Written with escaped newlines, as the corpus never is: the stanza is also in the Pushkin corpus,
and the project keeps no run of its corpora's text.
"""

STANZA = (
    "Мой дядя самых честных правил,\nКогда не в шутку занемог,\nОн уважать себя заставил\n"
    "И лучше выдумать не мог.\nЕго пример другим наука;\nНо, боже мой, какая скука\n"
    "С больным сидеть и день и ночь,\nНе отходя ни шагу прочь!\nКакое низкое коварство\n"
    "Полуживого забавлять,\nЕму подушки поправлять,\nПечально подносить лекарство,\n"
    "Вздыхать и думать про себя:\nКогда же черт возьмет тебя!"
)
