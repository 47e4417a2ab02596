"""Ways in besides the command itself: Python under the spawn start method, shell completion.

On Windows and macOS, worker processes are spawned: each re-imports the main
module, so a script that calls :func:`segeval.run_batch` needs the
``if __name__ == "__main__":`` guard (the README's example). The test runs such
a script with the start method set to spawn and checks that workers really
re-imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, SAMPLE

BATCH_SCRIPT = """
import json
import multiprocessing
import os
import sys
from pathlib import Path

import segeval

# Runs again in every spawned worker (imported as __mp_main__): counts them.
with open(sys.argv[3], "a", encoding="utf-8") as imports:
    imports.write(f"{__name__} {os.getpid()}\\n")


def main() -> None:
    multiprocessing.set_start_method("spawn")
    names = Path(sys.argv[2], "..", "class_names.txt").read_text().split()
    options = segeval.BatchOptions(
        score=segeval.ScoreOptions(class_names=names),
        execution=segeval.Execution(jobs=2),
    )
    board = segeval.run_batch(sys.argv[1], sys.argv[2], options)
    print(json.dumps(board.to_dict()))


if __name__ == "__main__":
    main()
"""


def test_batch_from_a_script_under_the_spawn_start_method(tmp_path: Path) -> None:
    submissions = tmp_path / "submissions"
    for name in ("first", "second"):
        for path in (SAMPLE / "pred").rglob("*"):
            if path.is_file():
                target = submissions / name / path.relative_to(SAMPLE / "pred")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent(BATCH_SCRIPT), encoding="utf-8")
    imports = tmp_path / "imports.txt"
    completed = subprocess.run(
        [sys.executable, str(script), str(submissions), str(SAMPLE / "gt"), str(imports)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    board = json.loads(completed.stdout)
    assert [(entry["name"], entry["rank"]) for entry in board["submissions"]] == [
        ("first", 1),
        ("second", 2),
    ]
    miou = board["submissions"][0]["metrics"]["miou"]
    assert miou == pytest.approx(0.80962533555473, abs=1e-12)
    runs = imports.read_text(encoding="utf-8").split("\n")[:-1]
    assert runs[0].startswith("__main__ ")
    # Spawned workers re-imported the script as __mp_main__: the guard kept them from
    # starting a batch of their own.
    assert len(runs) >= 2
    assert {line.split()[0] for line in runs[1:]} == {"__mp_main__"}


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("bash", "complete -o nosort -F _segeval_completion segeval"),
        ("zsh", "#compdef segeval"),
        ("fish", "complete --no-files --command segeval"),
    ],
)
def test_shell_completion_prints_a_completion_script(shell: str, expected: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "from segeval.cli import main; main()"],
        env={**os.environ, "_SEGEVAL_COMPLETE": f"{shell}_source"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert expected in completed.stdout


def test_shell_completion_completes_commands_and_options() -> None:
    def complete(words: str) -> list[str]:
        completed = subprocess.run(
            [sys.executable, "-c", "from segeval.cli import main; main()"],
            env={**os.environ, "_SEGEVAL_COMPLETE": "bash_complete", "COMP_WORDS": words,
                 "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return [line.split(",", 1)[1] for line in completed.stdout.splitlines()]

    assert "score" in complete("segeval sc")
    assert complete("segeval score --conv") == ["--convention"]
