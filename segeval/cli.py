"""The ``segeval`` command line: a thin shell over the library.

Each command parses options, makes one library call and renders the result.
Errors raised by the library (:class:`~segeval.errors.SegevalError`) are turned
into one line on stderr and exit code 2 here, in one place; ``--debug`` shows the
traceback instead. Exit codes: 0 success, 1 a quality gate failed, 2 usage or
input error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from segeval._version import __version__
from segeval.atomic import write_text_atomic
from segeval.classes import load_class_names
from segeval.errors import SegevalError, UsageError
from segeval.evaluate import ScoreOptions, evaluate
from segeval.render import FORMATS, RenderOptions, render
from segeval.report import Report

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2
_DEBUG_KEY = "segeval.debug"


class _SegevalGroup(click.Group):
    """Turns library errors into one stderr line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SegevalError as err:
            _fail(ctx, str(err), err)
        except OSError as err:
            if isinstance(err, BrokenPipeError):  # `segeval ... | head`
                sys.stderr.close()
                ctx.exit(EXIT_OK)
            _fail(ctx, f"{err.filename or ''}: {err.strerror or err}".lstrip(": "), err)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:  # a bug: still exit 2, never 1 (1 means "gate failed")
            _fail(
                ctx,
                f"internal error: {type(err).__name__}: {err} (rerun with --debug and report it)",
                err,
            )


def _fail(ctx: click.Context, message: str, err: BaseException) -> NoReturn:
    if ctx.meta.get(_DEBUG_KEY):
        raise err
    click.echo(f"segeval: error: {message}", err=True)
    ctx.exit(EXIT_USAGE)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEBUG_KEY] = True
    return value


def debug_option(function: F) -> F:
    """``--debug``: show tracebacks instead of one-line errors."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show the full traceback on errors.",
    )(function)


@click.group(cls=_SegevalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="segeval", message="%(prog)s %(version)s")
def cli() -> None:
    """Score semantic-segmentation predictions against ground truth.

    \b
    Exit codes: 0 success, 1 a quality gate failed, 2 usage or input error.
    """


def _parse_ignore_index(values: Sequence[str]) -> tuple[int, ...]:
    if not values:
        return (255,)
    if len(values) == 1 and values[0].strip().lower() == "none":
        return ()
    parsed = []
    for value in values:
        for part in value.split(","):
            try:
                parsed.append(int(part))
            except ValueError:
                raise UsageError(
                    f"--ignore-index {value!r}: expected an integer label (repeat the "
                    "option for several) or 'none'."
                ) from None
    return tuple(dict.fromkeys(parsed))


def _refuse_output_inside(output: Path, folders: Sequence[Path]) -> None:
    resolved = output.resolve()
    for folder in folders:
        if resolved.is_relative_to(folder.resolve()):
            raise UsageError(
                f"--output {output} is inside the input folder {folder}; segeval never "
                "writes into its inputs, so write the report elsewhere."
            )
    if not resolved.parent.is_dir():
        raise UsageError(f"--output {output}: the folder {output.parent} does not exist.")


class _Progress:
    """A tqdm bar on stderr, shown only on a terminal and only for runs longer than a moment."""

    def __init__(self, enabled: bool, description: str) -> None:
        self._bar: Any = None
        self._enabled = enabled and sys.stderr.isatty()
        self._description = description

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=self._description,
                unit="pair",
                delay=0.5,
                file=sys.stderr,
                leave=False,
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _emit(report: Report, output_format: str, options: RenderOptions, output: Path | None) -> None:
    """Write the report to --output (atomically) or stdout (rich when a terminal)."""
    if output is not None:
        write_text_atomic(output, render(report, output_format, options))
        return
    if output_format == "table" and sys.stdout.isatty():
        from rich.console import Console

        from segeval.render.terminal import print_report

        print_report(report, options, Console())
        return
    click.echo(render(report, output_format, options), nl=False)


@cli.command()
@click.argument("pred_dir", type=click.Path(path_type=Path))
@click.argument("gt_dir", type=click.Path(path_type=Path))
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    help="Number of classes (default: from --class-names, else the largest label seen + 1).",
)
@click.option(
    "--class-names",
    "class_names_file",
    type=click.Path(path_type=Path),
    help="File with one class name per line, or a JSON list.",
)
@click.option(
    "--ignore-index",
    "ignore_index",
    multiple=True,
    metavar="ID|none",
    help="Ground-truth label to ignore (default 255); repeat for several; 'none' disables.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="table",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file (atomically) instead of stdout.",
)
@click.option(
    "--confusion-matrix",
    is_flag=True,
    help="Include the confusion matrix in table, Markdown and CSV output.",
)
@click.option(
    "--normalize",
    type=click.Choice(["none", "gt", "pred", "all"]),
    default="none",
    show_default=True,
    help="Normalise the shown matrix by ground-truth rows, prediction columns or the total.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@debug_option
def score(
    pred_dir: Path,
    gt_dir: Path,
    num_classes: int | None,
    class_names_file: Path | None,
    ignore_index: tuple[str, ...],
    output_format: str,
    output: Path | None,
    confusion_matrix: bool,
    normalize: str,
    quiet: bool,
) -> None:
    """Score the masks in PRED_DIR against those in GT_DIR.

    Files pair by relative path without extension (pred/a/b.png with
    gt/a/b.png or gt/a/b.npy). Prints per-class IoU, Dice, precision, recall
    and the dataset-level summary (one confusion matrix over all pixels).

    \b
    Example:
        segeval score preds/ gt/ --num-classes 19 --ignore-index 255
        segeval score preds/ gt/ --class-names names.txt --format json | jq .summary
    """
    if output is not None:
        _refuse_output_inside(output, [pred_dir, gt_dir])
    options = ScoreOptions(
        num_classes=num_classes,
        class_names=None if class_names_file is None else load_class_names(class_names_file),
        ignore_index=_parse_ignore_index(ignore_index),
    )
    progress = _Progress(not quiet, "scoring")
    try:
        report = evaluate(pred_dir, gt_dir, options, on_progress=progress)
    finally:
        progress.close()
    render_options = RenderOptions(confusion_matrix=confusion_matrix, normalize=normalize)
    _emit(report, output_format, render_options, output)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``segeval`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="segeval")
