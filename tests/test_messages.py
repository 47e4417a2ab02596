"""Messages a user reads: counts in words, errors that name what the user typed, one line.

* No f-string puts a number before a plural noun by hand ("1 images"): counts
  go through :func:`segeval.wording.counted` (a scan of the sources).
* A conflict caused by ``--convention`` names the convention, not the option it
  set behind the user's back.
* click's usage errors are one line on stderr, like segeval's own.
* Unknown fields of class definition and threshold files get a "did you mean".
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from segeval.cli import cli
from segeval.run.conventions import CONVENTIONS
from tests.helpers import REPO, SAMPLE, SAMPLE_ARGS, save_mask


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segeval: error: ")
    return lines[0]


# ------------------------------------------------------------------ counts in words

_PLURAL_AFTER_NUMBER = re.compile(
    r"^ ((?:[a-z-]+ )?(?:images|classes|files|submissions|pixels|values|errors|groups|checks|"
    r"resamples|units|predictions|masks|colours|keys|members|pairs|entries|rows|categories))\b"
)

#: ``{expression} nouns`` that stay: not a count, or never one.
_NOT_COUNTS = {
    "array.dtype",  # "uint8 values"
    "labels.dtype",  # "float32 values" (a volume's stored type)
    "stored",  # a dtype name too
    "names[index]",  # "class 'road' values"
    "config.class_ids",  # "gt masks hold class ids"
    "DEFAULT_IGNORE",  # "255 binary masks"
    "max_side",  # a constant 240
    "MAX_COLORS",  # a constant
    "elements / 1000000.0",  # "12.5 million values"
    "header.pixels / 1000000.0",  # "12.5 million pixels"
    "height",  # "640x480 pixels"
    "intervals.n_resamples",  # at least 2 (--bootstrap >= 2)
    "self.n_resamples",
    "matrix.ignored_pixels",  # "all N pixels", only when nothing was scored
}


def _hand_made_plurals(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            for value, following in zip(node.values, node.values[1:], strict=False):
                if not (
                    isinstance(value, ast.FormattedValue) and isinstance(following, ast.Constant)
                ):
                    continue
                match = _PLURAL_AFTER_NUMBER.match(str(following.value))
                expression = ast.unparse(value.value)
                if match and expression not in _NOT_COUNTS and not expression.startswith("_share("):
                    relative = path.relative_to(REPO)
                    found.append(f"{relative}:{node.lineno}: {{{expression}}} {match.group(1)}")
    return found


def test_no_message_puts_a_count_before_a_plural_by_hand() -> None:
    assert _hand_made_plurals(REPO / "segeval") == [], "use segeval.wording.counted"


def test_one_image_and_one_class_are_singular(tmp_path: Path) -> None:
    save_mask(tmp_path / "gt" / "a.png", np.zeros((2, 3), dtype=np.uint8))
    save_mask(tmp_path / "pred" / "a.png", np.zeros((2, 3), dtype=np.uint8))
    result = run("score", tmp_path / "pred", tmp_path / "gt", "--num-classes", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 1 image, 6 pixels scored, 0 ignored (ignore index 255)")
    assert lines[1] == "Aggregation: dataset level (one confusion matrix over all pixels); 1 class"
    assert lines[2].endswith("; 1 of 1 class averaged")
    markdown = run("score", tmp_path / "pred", tmp_path / "gt", "--num-classes", "1",
                   "--format", "markdown")  # fmt: skip
    assert "1 image · 1 of 1 class averaged" in markdown.stdout
    assert "1 images" not in markdown.stdout + result.stdout
    assert "1 classes" not in markdown.stdout + result.stdout


# ------------------------------------------------------------------ options named as given


def test_a_conflict_from_a_convention_names_the_convention() -> None:
    ade20k = one_line_error(run("score", *SAMPLE_ARGS[:2], "--convention", "ade20k",
                                "--preset", "cityscapes"))  # fmt: skip
    assert ade20k == (
        "segeval: error: --convention ade20k (which sets --reduce-zero-label) cannot be combined "
        "with preset cityscapes, whose label map decides the values (the ade20k preset already "
        "reduces)."
    )
    binary = one_line_error(run("score", *SAMPLE_ARGS[:2], "--convention", "ade20k", "--binary"))
    assert binary == (
        "segeval: error: --binary names its two classes itself; drop --classes, --preset or "
        "--convention ade20k (which sets --reduce-zero-label)."
    )
    # Given by hand, the option is named as typed.
    typed = one_line_error(run("score", *SAMPLE_ARGS[:2], "--reduce-zero-label", "--binary"))
    assert "drop --classes, --preset or --reduce-zero-label." in typed


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_no_convention_error_names_an_option_the_user_did_not_give(convention: str) -> None:
    for extra in (["--binary"], ["--preset", "cityscapes"], ["--preset", "ade20k"]):
        result = run("score", *SAMPLE_ARGS[:2], "--convention", convention, *extra)
        if result.exit_code != 2 or "segeval: error: " not in result.stderr:
            continue
        message = result.stderr
        if "sample_data" in message:  # scoring started: a label error, not a conflict
            continue
        given = {"--convention", *extra}
        named = set(re.findall(r"--[a-z-]+", message))
        assert named - given <= {"--classes", "--preset", "--binary", "--reduce-zero-label"}
        for option in named - given:
            assert f"(which sets {option})" in message or option in ("--classes", "--preset")


# ------------------------------------------------------------------ usage errors on one line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["score", "a", "b", "--fromat", "json"],
         "No such option '--fromat'. (Did you mean one of: '--flat', '--format'?) "
         "See 'segeval score --help'."),
        (["score", "a"], "Missing argument 'GT_DIR'. See 'segeval score --help'."),
        (["scor"], "No such command 'scor'. Did you mean 'score'? See 'segeval --help'."),
        (["score", "a", "b", "--format", "xml"],
         "Invalid value for '--format': 'xml' is not one of 'table', 'csv', 'json', "
         "'markdown', 'html'. See 'segeval score --help'."),
        (["--bogus"], "No such option '--bogus'. Did you mean '--verbose'? See 'segeval --help'."),
        (["plot", "confusion"],
         "Missing argument 'REPORT.json'. See 'segeval plot confusion --help'."),
        (["score", "a", "b", "--jobs", "0"],
         "Invalid value for '--jobs' / '-j': 0 is not in the range x>=1. "
         "See 'segeval score --help'."),
    ],
)  # fmt: skip
def test_click_usage_errors_are_one_line(args: list[str], expected: str) -> None:
    assert one_line_error(run(*args)) == f"segeval: error: {expected}"


# ------------------------------------------------------------------ did you mean


def test_unknown_fields_of_a_class_definition_get_a_suggestion(tmp_path: Path) -> None:
    per_class = tmp_path / "per_class.json"
    per_class.write_text('{"classes": [{"name": "a", "colour": [1, 2, 3]}, {"name": "b"}]}')
    top = tmp_path / "top.toml"
    top.write_text('ignroe = [3]\n[[classes]]\nname = "a"\n')
    first = one_line_error(run("score", *SAMPLE_ARGS[:2], "--classes", per_class))
    assert first == (
        f"segeval: error: {per_class}: classes[0]: unknown field 'colour' (did you mean "
        "'color'?); known fields: average_instance_size, category, color, id, name, values."
    )
    second = one_line_error(run("score", *SAMPLE_ARGS[:2], "--classes", top))
    assert f"{top}: unknown field 'ignroe' (did you mean 'ignore'?); known fields: " in second


def test_unknown_sections_and_metrics_of_a_thresholds_file_get_a_suggestion(
    tmp_path: Path,
) -> None:
    section = tmp_path / "section.toml"
    section.write_text("[fail_undr]\nmiou = 0.5\n")
    assert one_line_error(run("score", *SAMPLE_ARGS, "--thresholds", section)) == (
        f"segeval: error: {section}: unknown section 'fail_undr' (did you mean 'fail_under'?); "
        "use fail_under and/or fail_over."
    )
    metric = tmp_path / "metric.toml"
    metric.write_text("[fail_under]\nmdise = 0.5\n")
    assert "(did you mean 'mdice'?)" in one_line_error(
        run("score", *SAMPLE_ARGS, "--thresholds", metric)
    )


def test_the_sample_set_still_scores() -> None:  # the messages above changed no number
    result = run("score", *SAMPLE_ARGS, "--format", "csv")
    assert "miou,,,,0.80962533555473" in result.stdout
    assert (SAMPLE / "gt").is_dir()
