"""The GitHub Action (action.yml) and the GitLab CI template, run locally.

Their scripts are read from the YAML files and run with bash / sh as the CI
services would: the Action's inputs become the ``env`` its steps declare (the
``${{ inputs.x }}`` expressions are evaluated here), with a fake
``GITHUB_STEP_SUMMARY`` and ``GITHUB_OUTPUT``; the GitLab job's variables
become the environment of its script. Only the installing step is not run
(the test's own environment has segeval); its command line is checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO, SAMPLE

ACTION = REPO / "action.yml"
GITLAB = REPO / "ci" / "gitlab" / "segeval.gitlab-ci.yml"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="the CI scripts are bash and POSIX sh")


def _environment(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8", **extra}


# ------------------------------------------------------------------ the GitHub Action

_EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def _evaluate(expression: str, inputs: dict[str, str]) -> str:
    """The expressions action.yml uses: ``inputs.x``, ``a || b``, ``inputs.x != ''``."""
    if "||" in expression:
        for part in expression.split("||"):
            value = _evaluate(part.strip(), inputs)
            if value:
                return value
        return ""
    if "!=" in expression:
        left, right = (part.strip() for part in expression.split("!="))
        return "true" if _evaluate(left, inputs) != right.strip("'") else ""
    assert expression.startswith("inputs."), expression
    return inputs[expression.removeprefix("inputs.")]


def _substitute(text: str, inputs: dict[str, str]) -> str:
    return _EXPRESSION.sub(lambda match: _evaluate(match.group(1), inputs), text)


def _action() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return document


def run_action(tmp_path: Path, **given: str) -> tuple[list[tuple[str, int]], Path, Path]:
    """Run the Action's steps in order, as a runner would; stop at the first failure.

    Returns each step run (id, exit code), the step summary and the step outputs.
    """
    action = _action()
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, unknown
    inputs.update(given)
    summary, outputs = tmp_path / "step-summary.md", tmp_path / "step-outputs"
    summary.write_text("", encoding="utf-8")
    outputs.unlink(missing_ok=True)
    ran = []
    for step in action["runs"]["steps"]:
        condition = step.get("if")
        if condition is not None and not _evaluate(condition, inputs):
            continue
        env = {name: _substitute(str(value), inputs) for name, value in step["env"].items()}
        env = _environment(
            tmp_path,
            {
                **env,
                "GITHUB_ACTION_PATH": str(REPO),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_OUTPUT": str(outputs),
            },
        )
        assert step["shell"] == "bash"
        completed = subprocess.run(
            [BASH or "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        ran.append((step["id"], completed.returncode))
        (tmp_path / f"{step['id']}.log").write_text(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            break
    return ran, summary, outputs


def test_the_action_is_composite_and_installs_from_its_own_checkout() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    install = action["runs"]["steps"][0]
    assert install["id"] == "install"
    assert '"${SEGEVAL_INSTALL:-$GITHUB_ACTION_PATH[fast]}"' in install["run"]
    assert "--github-summary" in action["runs"]["steps"][1]["run"]
    for step in action["runs"]["steps"]:  # inputs reach scripts only through env
        assert "${{" not in step["run"], step["id"]


def test_the_action_scores_gates_compares_and_summarises(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    ran, summary, outputs = run_action(
        tmp_path,
        pred="sample_data/pred",
        gt="sample_data/gt",
        options="--class-names sample_data/class_names.txt --fail-under 'iou[road]=0.9' "
        "--fail-under miou=0.5",
        baseline="sample_data/baseline.json",
        candidate="",
        **{"max-drop": "miou=0.01 iou[road]=0.02"},
        install="none",
        python=sys.executable,
    )
    # The baseline does not exist yet: score passes, compare fails with a one-line error.
    assert ran == [("install", 0), ("score", 0), ("compare", 2)]
    assert (
        "segeval: error: sample_data/baseline.json: cannot open the report"
        in (tmp_path / "compare.log").read_text()
    )
    shutil.copy(tmp_path / "segeval-report.json", tmp_path / "sample_data" / "baseline.json")
    ran, summary, outputs = run_action(
        tmp_path,
        pred="sample_data/pred",
        gt="sample_data/gt",
        options="--class-names sample_data/class_names.txt --fail-under 'iou[road]=0.9'",
        baseline="sample_data/baseline.json",
        **{"max-drop": "miou=0.01 iou[road]=0.02", "compare-options": "--format markdown"},
        install="none",
        python=sys.executable,
    )
    assert ran == [("install", 0), ("score", 0), ("compare", 0)]
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## segeval: mIoU 0.8096")
    assert "## segeval compare: mIoU 0.8096 (+0.0000 vs baseline.json)" in text
    assert outputs.read_text() == "report=segeval-report.json\n"
    for name, checks in (
        ("score", ["iou[road]"]),
        ("compare", ["max-drop miou", "max-drop iou[road]"]),
    ):
        suite = ET.parse(tmp_path / f"segeval-junit-{name}.xml").getroot()
        assert [case.get("name") for case in suite.iter("testcase")] == checks
        assert not list(suite.iter("failure"))


def test_the_action_fails_the_step_when_the_gate_fails(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    ran, summary, _ = run_action(
        tmp_path,
        pred="sample_data/pred",
        gt="sample_data/gt",
        options="--class-names sample_data/class_names.txt --fail-under miou=0.99",
        install="none",
        python=sys.executable,
    )
    assert ran == [("install", 0), ("score", 1)]
    assert "**Quality gate: failed**" in summary.read_text(encoding="utf-8")
    suite = ET.parse(tmp_path / "segeval-junit-score.xml").getroot()
    assert len(list(suite.iter("failure"))) == 1
    assert "FAIL miou = 0.8096 (required >= 0.9900)" in (tmp_path / "score.log").read_text()


def test_action_options_are_split_as_words_never_run(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    ran, _, _ = run_action(
        tmp_path,
        pred="sample_data/pred",
        gt="sample_data/gt",
        options="--class-names sample_data/class_names.txt $(touch pwned) ; touch pwned2",
        install="none",
        python=sys.executable,
        summary="false",
    )
    assert ran[-1] == ("score", 2)  # '$(touch' is an unexpected extra argument
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()


# ------------------------------------------------------------------ the GitLab template


def run_gitlab(tmp_path: Path, **variables: str) -> tuple[int, str]:
    job = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))[".segeval"]
    environment = {name: str(value) for name, value in job["variables"].items()}
    unknown = set(variables) - set(environment)
    assert not unknown, unknown
    environment.update(variables)
    script = "\n".join(["set -e", *job["before_script"], *job["script"]])
    completed = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, env=_environment(tmp_path, environment),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return completed.returncode, completed.stdout + completed.stderr


def test_the_gitlab_template_scores_compares_and_writes_junit(tmp_path: Path) -> None:
    template = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))[".segeval"]
    assert template["artifacts"]["reports"]["junit"] == "segeval-junit-*.xml"
    assert "segeval-masks[fast]" in template["variables"]["SEGEVAL_INSTALL"]
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    common = {
        "SEGEVAL_INSTALL": "none",
        "SEGEVAL_PRED": "sample_data/pred",
        "SEGEVAL_GT": "sample_data/gt",
        "SEGEVAL_OPTIONS": "--class-names sample_data/class_names.txt --fail-under 'iou[road]=0.9'",
    }
    code, log = run_gitlab(tmp_path, **common)
    assert code == 0, log
    shutil.copy(tmp_path / "segeval-report.json", tmp_path / "baseline.json")
    code, log = run_gitlab(
        tmp_path, **common, SEGEVAL_BASELINE="baseline.json",
        SEGEVAL_MAX_DROP="miou=0.01 iou[road]=0.02",
    )  # fmt: skip
    assert code == 0, log
    assert "## segeval compare: mIoU 0.8096 (+0.0000 vs baseline.json)" in log
    compare = ET.parse(tmp_path / "segeval-junit-compare.xml").getroot()
    assert [case.get("name") for case in compare.iter("testcase")] == [
        "max-drop miou",
        "max-drop iou[road]",
    ]
    code, log = run_gitlab(tmp_path, **{**common, "SEGEVAL_OPTIONS": "--fail-under miou=0.99"})
    assert code == 1, log
    assert "segeval: gate FAILED (1 of 1)" in log
