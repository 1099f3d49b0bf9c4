"""A model's answer as the chat page shows it (web/markdown.py): formatted where that is safe
and whole, as written where formatting would lose words or time."""

import pytest

from web.markdown import MAX_CHARS, rendered


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("# Plan\n## Steps", "<h3>Plan</h3>\n<h4>Steps</h4>\n"),  # below the page's own headings
        ("[docs](https://a.example)",
         '<p><a href="https://a.example" rel="nofollow noopener noreferrer">docs</a></p>\n'),
        ("<mailto:ada@example.com>",
         '<p><a href="mailto:ada@example.com" rel="nofollow noopener noreferrer">'
         "mailto:ada@example.com</a></p>\n"),
        ("[here](/memories/)",
         '<p><a href="/memories/" rel="nofollow noopener noreferrer">here</a></p>\n'),
        # Any other scheme stays text: it could start a program, or run script.
        ("[x](JaVaScRiPt:alert(1))", "<p>[x](JaVaScRiPt:alert(1))</p>\n"),
        ("[x](ms-msdt:/id%20PCWDiagnostic)", "<p>[x](ms-msdt:/id%20PCWDiagnostic)</p>\n"),
        ("[x](data:text/html;base64,PHN)", "<p>[x](data:text/html;base64,PHN)</p>\n"),
        ("<vscode://file/etc/passwd>", "<p>&lt;vscode://file/etc/passwd&gt;</p>\n"),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"),
    ],
)  # fmt: skip
def test_formatted_safely(answer, shown):
    assert str(rendered(answer)) == shown


@pytest.mark.parametrize(
    "answer",
    [
        ">" * 150 + " the words deep inside",  # past markdown-it's nesting, which drops them
        "- " * 150 + "the words deep inside",
        "the words deep inside " + "[" * MAX_CHARS,  # quadratic for markdown-it: not parsed
    ],
)
def test_what_formatting_would_lose_is_shown_as_written(answer):
    shown = str(rendered(answer))

    assert shown.startswith('<p class="as-written">')
    assert "the words deep inside" in shown


def test_nesting_a_person_would_write_is_formatted_with_every_word():
    shown = str(rendered(">" * 25 + " still here"))

    assert shown.count("<blockquote>") == 25 and "still here" in shown
