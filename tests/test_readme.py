"""The README keeps its promises: the set-up block, and Python examples that print what it shows."""

from __future__ import annotations

import contextlib
import doctest
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def _blocks():
    text = README.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)], text


def test_first_shell_block_is_exactly_the_two_set_up_commands():
    blocks, _ = _blocks()
    lang, body, _, _ = next(b for b in blocks if b[0] in ("sh", "shell", "bash", "console"))
    lines = body.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install -e '.[test]' && cnnconv filter sample_images/")
    assert lines[1] == "pytest"


def _examples_with_output():
    blocks, text = _blocks()
    pairs = []
    for (lang, body, _, end), (lang2, body2, start2, _) in zip(blocks, blocks[1:]):
        between = text[end:start2].strip()
        if lang == "python" and lang2 in ("", "text") and between in ("", "Output:"):
            pairs.append(pytest.param(body, body2, id=body.splitlines()[1][:40]))
    return pairs


@pytest.mark.parametrize(("code", "expected"), _examples_with_output())
def test_python_example_prints_what_the_readme_shows(code, expected):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    assert out.getvalue().strip() == expected.strip()


def test_readme_has_python_examples_to_check():
    assert len(_examples_with_output()) >= 2


def test_interactive_examples_in_the_readme_pass_as_doctests():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(README.read_text(encoding="utf-8"), {}, "README.md", str(README), 0)
    if not test.examples:
        pytest.fail("README.md has no >>> examples: the speed section's explain_method example is gone")
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda s: None)
    assert runner.failures == 0, f"{runner.failures} README doctest example(s) failed"
