"""The ``segeval`` command line: a thin shell over the library.

Each command parses options, makes one library call and renders the result.
Errors raised by the library (:class:`~segeval.errors.SegevalError`) are turned
into one line on stderr and exit code 2 here, in one place; ``--debug`` shows the
traceback instead. Exit codes: 0 success, 1 a quality gate failed, 2 usage or
input error, 128 + the signal's number when interrupted (130 for Ctrl-C, 143 for
SIGTERM, 129 for SIGHUP). SIGTERM and SIGHUP are handled like Ctrl-C: the
command stops at once, its workers are killed, its temporary files removed and
a previous output file left as it was.
"""

from __future__ import annotations

import importlib
import json
import os
import posixpath
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from segeval._version import __version__
from segeval.defaults import (
    CITYSCAPES_BOUNDARY_RATIO,
    CITYSCAPES_INSTANCE_SUFFIX,
    DEFAULT_BAND_RATIO,
    DEFAULT_BF_FRACTION,
    DEFAULT_MAX_ARCHIVE_BYTES,
    DEFAULT_MAX_CLASSES,
    DEFAULT_MAX_EXTRACT_BYTES,
    DEFAULT_MAX_MASK_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_VOXELS,
    DEFAULT_NSD_TOLERANCE,
    DEFAULT_TIMEOUT,
    DEFAULT_WORST,
)
from segeval.errors import OutputError, SegevalError, UsageError

# The library is imported by the commands that use it, not here: `segeval
# --version` and `--help` load click alone, and each command loads only the
# modules it runs (start-up is part of every short run).
if TYPE_CHECKING:
    from segeval.checks import GateResult
    from segeval.core.boundary import BoundaryOptions
    from segeval.gate import (
        Threshold,
    )
    from segeval.inputs.pairing import InstanceSource
    from segeval.intervals import IntervalOptions
    from segeval.io.storage import (
        Location,
    )
    from segeval.leaderboard import Leaderboard
    from segeval.losses.options import LossOptions
    from segeval.notices import Notice
    from segeval.outputs.per_image_file import PerImageWriter
    from segeval.render import RenderOptions
    from segeval.report import Report
    from segeval.run.gallery import (
        ScoreHistogram,
        WorstImages,
    )
    from segeval.run.options import Execution, ScoreOptions

__all__ = ["cli", "main"]

# segeval's work runs in its own threads and none of it waits on BLAS (the
# bootstrap's products are of exact integer counts); OpenBLAS's thread pool, set
# up when numpy is imported, cost about 0.1 s of every command's start on a
# 2-core machine. A value the user sets wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2  # and 130 when interrupted (Ctrl-C)
_DEBUG_KEY = "segeval.debug"


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the command is, so that it unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # Once stopping, further signals must not interrupt the clean-up itself.
    for number in _STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Handle SIGINT, SIGTERM and SIGHUP as an exception while a command runs."""
    previous = {}
    # Only the main thread may handle signals (an application may call us from another).
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, _interrupt) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _OneLineUsageError(click.UsageError):
    """A click usage error (unknown option, missing argument, bad choice) on one line.

    Click prints three lines and a blank one (usage, "Try ... --help", the error);
    segeval's promise is one line on stderr, so it says what click says and where
    the usage is.
    """

    def __init__(self, err: click.UsageError) -> None:
        # click's subclasses (NoSuchOption, BadParameter) add the suggestions and the
        # option's name in format_message, so the text is taken from the original.
        super().__init__(err.format_message(), err.ctx)

    def show(self, file: Any = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else "segeval"
        message = " ".join(self.message.split())  # click's messages may wrap
        click.echo(f"segeval: error: {message} See '{command} --help'.", err=True)


class _SegevalGroup(click.Group):
    """Turns library errors into one stderr line and exit code 2, signals into 128 + N."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:  # the group's own options (segeval --bogus)
            raise _OneLineUsageError(err) from err

    def invoke(self, ctx: click.Context) -> Any:
        # Pillow's notes on a corrupt file ("Corrupt EXIF data") would be noise beside the
        # one-line verdict segeval gives on that file.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            with _stop_on_signals():
                return super().invoke(ctx)

            return super().invoke(ctx)
        except click.UsageError as err:  # a command's options, or no such command
            if isinstance(err, _OneLineUsageError):
                raise
            raise _OneLineUsageError(err) from err
        except SegevalError as err:
            _fail(ctx, str(err), err)
        except OSError as err:
            if isinstance(err, BrokenPipeError):  # `segeval ... | head`
                sys.stderr.close()
                ctx.exit(EXIT_OK)
            _fail(ctx, f"{err.filename or ''}: {err.strerror or err}".lstrip(": "), err)
        except KeyboardInterrupt as err:
            # Not click's "Aborted!" with exit 1: 1 means "a gate failed".
            signum = err.signum if isinstance(err, Interrupted) else int(signal.SIGINT)
            by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
            click.echo(f"segeval: interrupted{by}", err=True)
            ctx.exit(128 + signum)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:  # a bug: still exit 2, never 1 (1 means "gate failed")
            _fail(
                ctx,
                f"internal error: {type(err).__name__}: {err} (rerun with --debug and report it)",
                err,
            )


def _fail(ctx: click.Context, message: str, err: BaseException) -> NoReturn:
    from segeval.render.tables import printable

    if ctx.meta.get(_DEBUG_KEY):
        raise err
    # One line whatever the message holds (file names may hold line breaks).
    click.echo(f"segeval: error: {printable(message)}", err=True)
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


class _LazyChoice(click.Choice[str]):
    """A choice whose names come from a module imported when they are first needed.

    ``module.attribute`` is an iterable of the names (a tuple, or the keys of a
    mapping such as a render module's ``FORMATS``): building the command line
    imports none of the library, so ``segeval --version`` and ``--help`` load
    click alone.
    """

    def __init__(self, module: str, attribute: str) -> None:
        self._source = (module, attribute)
        self._names: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        if self._names is None:
            module, attribute = self._source
            names: Iterable[str] = getattr(importlib.import_module(module), attribute)
            self._names = tuple(names)
        return self._names

    @choices.setter
    def choices(self, names: Iterable[str]) -> None:
        self._names = tuple(names)


def format_option(module: str, what: str) -> Callable[[F], F]:
    """``--format`` with the formats of a render module's ``FORMATS``, ``table`` by default."""
    return click.option(
        "--format",
        "output_format",
        type=_LazyChoice(module, "FORMATS"),
        default="table",
        show_default=True,
        help=f"{what} format.",
    )


class _LocationType(click.ParamType):  # type: ignore[type-arg]
    """A local path (``-`` for stdout) or a URL (``s3://bucket/key``), as a Location."""

    name = "path|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from segeval.io.storage import location

        return location(value)


LOCATION = _LocationType()

storage_option = click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for s3:// gs:// az:// URLs (endpoint_url=..., anon=true, "
    "client_kwargs.region_name=...); repeatable. Credentials also come from the "
    "store's environment (AWS_*, ...).",
)


def scheduler_options(function: F) -> F:
    """--scheduler and --workers: run the work on a Dask cluster (score, batch and loss)."""
    function = click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="With --scheduler local: worker processes (default: all cores).",
    )(function)
    return click.option(
        "--scheduler",
        metavar="tcp://HOST:8786|local",
        help="Run on a Dask cluster: a scheduler's address, or 'local' for a cluster of "
        "--workers processes started for this run (needs segeval-masks[dask]).",
    )(function)


def _storage(ctx: click.Context) -> dict[str, Any]:
    from segeval.io.storage import parse_storage_options

    return parse_storage_options(ctx.params.get("storage_options") or ())


def _with_storage(found: Location | None, storage: Mapping[str, Any]) -> Location | None:
    """A URL given with the command's --storage-option values."""
    from segeval.io.storage import RemotePath, location

    return location(found, storage) if isinstance(found, RemotePath) else found


def output_option(what: str) -> Callable[[F], F]:
    """``--output FILE``: write atomically instead of to stdout."""
    return click.option(
        "--output",
        type=LOCATION,
        help=f"Write the {what} to this file or URL (atomically; a device or pipe in place; - for "
        "stdout) instead of stdout.",
    )


STDOUT = Path("-")


def _is_stdout(output: Location | None) -> bool:
    return output is None or output == STDOUT


def _write(text: str, output: Location | None) -> None:
    """The command's result: to --output (atomically), else to stdout."""
    from segeval.outputs.atomic import write_text_atomic

    if not _is_stdout(output):
        assert output is not None
        write_text_atomic(output, text)
        return
    # A name that is not UTF-8 (a surrogate escape) is shown escaped, never a crash.
    click.echo(text.encode("utf-8", "backslashreplace").decode("utf-8"), nl=False)
    try:
        sys.stdout.flush()  # a full disk or a closed pipe is reported here, not lost
    except BrokenPipeError:
        raise
    except OSError as err:
        raise OutputError(f"stdout: cannot write the output ({err.strerror or err}).") from err


@click.group(
    name="segeval",
    cls=_SegevalGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--version", is_flag=True, help="Show the version and exit.")
@click.option("--verbose", is_flag=True, help="With --version: the decoder, libraries and cores.")
@click.pass_context
def cli(ctx: click.Context, version: bool, verbose: bool) -> None:
    """Score semantic-segmentation predictions against ground truth.

    \b
    Exit codes: 0 success, 1 a quality gate failed, 2 usage or input error.
    """
    if version:
        click.echo(f"segeval {__version__}")
        if verbose:
            click.echo(_environment())
        ctx.exit(EXIT_OK)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _environment() -> str:
    import platform

    import numpy
    import PIL

    from segeval.io.png import active_decoder
    from segeval.run.engine import default_jobs

    return "\n".join(
        [
            f"python {platform.python_version()} ({platform.platform()})",
            f"numpy {numpy.__version__}, pillow {PIL.__version__}",
            f"PNG decoder: {active_decoder()}",
            f"cores available: {default_jobs()} (default --jobs)",
        ]
    )


def _parse_ignore_index(values: Sequence[str]) -> tuple[int, ...] | None:
    if not values:
        return None
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


def _check_outputs(
    outputs: Mapping[str, Location | None],
    inputs: Sequence[Location],
    input_files: Sequence[Path] = (),
) -> None:
    """Every output option: outside the inputs, in a folder that exists, each its own file.

    The first option is the command's main output, which goes to stdout when not
    given; ``-`` names stdout for any of them.
    """
    from segeval.io.storage import RemotePath
    from segeval.outputs.atomic import refuse_inside_inputs, same_file

    named: list[tuple[str, Location]] = []
    for position, (option, output) in enumerate(outputs.items()):
        if output is None and position == 0:
            output = STDOUT
        if output is None:
            continue
        for other_option, other in named:
            if (output == STDOUT) == (other == STDOUT) and (
                output == STDOUT or _same_output(output, other)
            ):
                shown = "stdout" if output == STDOUT else str(output)
                raise UsageError(
                    f"{other_option} and {option} both name {shown}; one would overwrite the "
                    "other, so give each its own file."
                )
        named.append((option, output))
        if output == STDOUT:
            continue
        if isinstance(output, RemotePath):
            refuse_inside_inputs(output, option, inputs)
            continue
        for input_file in input_files:
            if same_file(output, input_file):
                raise UsageError(
                    f"{option} {output} is the input {input_file}; segeval never overwrites "
                    "its inputs, so write it elsewhere."
                )
        refuse_inside_inputs(output, option, inputs)
        if not output.resolve().parent.is_dir():
            raise UsageError(f"{option} {output}: the folder {output.parent} does not exist.")


def _same_output(first: Location, second: Location) -> bool:
    from segeval.io.storage import RemotePath
    from segeval.outputs.atomic import same_file

    if isinstance(first, RemotePath) or isinstance(second, RemotePath):
        return str(first) == str(second)
    return same_file(first, second)


class _Progress:
    """A tqdm bar on stderr, shown only on a terminal and only for runs longer than a moment."""

    def __init__(self, enabled: bool, description: str, unit: str = "pair") -> None:
        self._bar: Any = None
        self._enabled = enabled and sys.stderr.isatty()
        self._description = description
        self._unit = unit

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            import tqdm as tqdm_module
            from tqdm import tqdm

            # No monitor thread: worker processes are forked, and forking a
            # process that runs threads is unsafe.
            tqdm_module.tqdm.monitor_interval = 0
            self._bar = tqdm(
                total=total,
                desc=self._description,
                unit=self._unit,
                delay=0.5,
                file=sys.stderr,
                leave=False,
            )
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def _emit(
    report: Report, output_format: str, options: RenderOptions, output: Location | None
) -> None:
    """Write the report to --output (atomically) or stdout (rich when a terminal)."""
    from segeval.render import score as score_formats
    from segeval.render.tables import render_with

    if _is_stdout(output) and output_format == "table" and sys.stdout.isatty():
        from rich.console import Console

        from segeval.render.terminal import print_report

        print_report(report, options, Console())
        return
    _write(render_with(score_formats.FORMATS, report, output_format, options), output)


_BOUNDARY_OPTIONS = [
    click.option(
        "--boundary",
        is_flag=True,
        help="Also compute Boundary IoU and boundary F1 (BF score) per class.",
    ),
    click.option(
        "--surface-distances",
        is_flag=True,
        help="Also compute HD, HD95, ASSD and NSD per class (surface distances, in pixels).",
    ),
    click.option(
        "--boundary-width",
        type=click.IntRange(min=1),
        metavar="PX",
        help="Boundary IoU band width in pixels (default: --boundary-ratio of the diagonal).",
    ),
    click.option(
        "--boundary-ratio",
        type=click.FloatRange(min=0, min_open=True),
        metavar="R",
        help=f"Boundary IoU band width as a fraction of the image diagonal (default "
        f"{DEFAULT_BAND_RATIO}; {CITYSCAPES_BOUNDARY_RATIO} "
        "under --convention cityscapes).",
    ),
    click.option(
        "--bf-tolerance",
        type=click.FloatRange(min=0, min_open=True),
        metavar="FRACTION",
        help=f"BF matching distance as a fraction of the image diagonal (default "
        f"{DEFAULT_BF_FRACTION}, MATLAB's bfscore).",
    ),
    click.option(
        "--nsd-tolerance",
        type=click.FloatRange(min=0),
        metavar="PX|MM",
        help=f"NSD tolerance in pixels, in millimetres for volumes (default "
        f"{DEFAULT_NSD_TOLERANCE:g}).",
    ),
    click.option(
        "--hd95",
        type=click.Choice(["monai", "medpy"]),
        help="HD95 as MONAI (max of the two directed 95th percentiles, default) or medpy "
        "(95th percentile of both directions pooled).",
    ),
    click.option(
        "--replace-inf",
        type=click.Choice(["diagonal"]),
        help="Replace the infinite distances of a class missing on one side of an image by "
        "the image diagonal (default: keep inf).",
    ),
]


_INSTANCE_OPTIONS = [
    click.option(
        "--gt-instances",
        metavar="DIR",
        help="Also compute instance-level IoU (iIoU, Cityscapes) from the ground truth's "
        "instance maps (label value x 1000 + k) in DIR, paired like the ground truth; needs "
        "--preset cityscapes or a --classes file with average instance sizes.",
    ),
    click.option(
        "--gt-instance-suffix",
        metavar="SUFFIX",
        help=f"Strip this suffix from instance map names to pair them (default "
        f"{CITYSCAPES_INSTANCE_SUFFIX} with the cityscapes preset or convention); given "
        "alone, the instance maps are looked for in the ground-truth folder.",
    ),
]


def _instance_source(params: dict[str, Any]) -> InstanceSource | None:
    """--gt-instances / --gt-instance-suffix (either one turns iIoU on)."""
    from segeval.inputs.pairing import InstanceSource

    folder, suffix = params["gt_instances"], params["gt_instance_suffix"]
    if folder is None and suffix is None:
        return None
    return InstanceSource(folder=folder, suffix=suffix)


def _boundary_options(params: dict[str, Any]) -> BoundaryOptions | None:
    """--boundary / --surface-distances and their parameters (each only with its metric)."""
    needs = {
        "--boundary-width": ("boundary_width", "--boundary"),
        "--boundary-ratio": ("boundary_ratio", "--boundary"),
        "--bf-tolerance": ("bf_tolerance", "--boundary"),
        "--nsd-tolerance": ("nsd_tolerance", "--surface-distances"),
        "--hd95": ("hd95", "--surface-distances"),
        "--replace-inf": ("replace_inf", "--surface-distances"),
    }
    enabled = {"--boundary": params["boundary"], "--surface-distances": params["surface_distances"]}
    for option, (name, metric) in needs.items():
        if params[name] is not None and not enabled[metric]:
            raise UsageError(f"{option} sets a parameter of {metric}; pass {metric} too.")
    if params["boundary_width"] is not None and params["boundary_ratio"] is not None:
        raise UsageError("--boundary-width and --boundary-ratio both set the band; pass one.")
    if not any(enabled.values()):
        return None
    from segeval.core.boundary import BoundaryOptions

    return BoundaryOptions(
        boundary=params["boundary"],
        surface=params["surface_distances"],
        width=params["boundary_width"],
        ratio=params["boundary_ratio"] or DEFAULT_BAND_RATIO,
        bf_fraction=params["bf_tolerance"] or DEFAULT_BF_FRACTION,
        nsd_tolerance=(
            DEFAULT_NSD_TOLERANCE if params["nsd_tolerance"] is None else params["nsd_tolerance"]
        ),
        hd95=params["hd95"] or "monai",
        replace_inf=params["replace_inf"] == "diagonal",
    )


def limit_option(flag: str, default: int, help: str) -> Callable[[F], F]:
    """A positive integer limit (``--max-...``) with its default shown in ``--help``."""
    return click.option(
        flag, type=click.IntRange(min=1), default=default, show_default=True, help=help
    )


def scoring_options(function: F) -> F:
    """The options that shape how masks are scored (shared by score and batch)."""
    decorators = [
        click.option(
            "--num-classes",
            type=click.IntRange(min=1),
            help="Number of classes (default: from --class-names, else largest label + 1).",
        ),
        click.option(
            "--class-names",
            "class_names_file",
            type=click.Path(path_type=Path),
            help="File with one class name per line, or a JSON list.",
        ),
        click.option(
            "--classes",
            "classes_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Class definition file (JSON or TOML): names, colours, ignore values, label map.",
        ),
        click.option(
            "--preset",
            type=_LazyChoice("segeval.inputs.classes", "PRESET_NAMES"),
            help="Built-in class definition ('segeval presets' lists them).",
        ),
        click.option(
            "--class-ids",
            type=click.Choice(["gt", "pred", "both"]),
            help="These masks already hold class ids (e.g. Cityscapes trainIds), so the "
            "label map of --classes/--preset is not applied to them.",
        ),
        click.option(
            "--ignore-index",
            "ignore_index",
            multiple=True,
            metavar="ID|none",
            help="Label to ignore (default 255, or the class definition's); repeat for "
            "several; 'none' disables.",
        ),
        click.option(
            "--convention",
            type=_LazyChoice("segeval.run.conventions", "CONVENTIONS"),
            help="Reproduce a reference evaluator's conventions (options given explicitly win).",
        ),
        click.option(
            "--per-image",
            is_flag=True,
            default=None,
            help="Also score each image on its own and report means over images.",
        ),
        click.option(
            "--empty",
            type=click.Choice(["nan", "zero", "one"]),
            help="Score of a class absent from both GT and prediction "
            "(default nan: left out of means).",
        ),
        click.option(
            "--zero-division",
            type=click.Choice(["nan", "zero"]),
            help="Value of other 0/0 ratios: precision of a never-predicted class, "
            "recall of a class absent from GT (default nan).",
        ),
        click.option(
            "--beta",
            type=click.FloatRange(min=0, min_open=True),
            help="Beta of the F-beta score (default 1).",
        ),
        click.option(
            "--fscore",
            type=click.Choice(["counts", "precision_recall"]),
            help="F-scores from the counts (default; F1 = Dice) or from precision and recall, "
            "undefined for a class without true positives (mmsegmentation).",
        ),
        click.option(
            "--gt-empty",
            type=click.Choice(["score", "nan"]),
            help="A class predicted but absent from the ground truth: scored 0 (default) or "
            "undefined (MONAI ignore_empty).",
        ),
        click.option(
            "--empty-mean",
            type=click.Choice(["nan", "zero"]),
            help="A mean over images that no image defines: undefined (default) or 0 (MONAI).",
        ),
        click.option(
            "--exclude-class",
            "exclude_classes",
            multiple=True,
            metavar="NAME|ID",
            help="Report this class but leave it out of summary means; repeatable.",
        ),
        click.option(
            "--reduce-zero-label",
            is_flag=True,
            default=None,
            help="ADE20K convention on GT and prediction: 0 is ignored, other labels minus 1.",
        ),
        click.option(
            "--out-of-range",
            type=click.Choice(["error", "miss"]),
            help="A predicted label outside the classes: stop with an error (default) or "
            "count it as a miss of the GT class.",
        ),
        click.option(
            "--pred-ignore",
            type=click.Choice(["miss", "error"]),
            help="A prediction equal to an ignore value on a scored pixel: a miss of the GT "
            "class (default) or an error.",
        ),
        click.option(
            "--pred-suffix",
            help="Strip this suffix (e.g. _leftImg8bit.png) from prediction names to pair them.",
        ),
        click.option(
            "--gt-suffix",
            help="Strip this suffix (e.g. _gtFine_labelIds.png) from ground-truth names.",
        ),
        click.option("--pred-glob", help="Only prediction files whose relative path matches."),
        click.option("--gt-glob", help="Only ground-truth files whose relative path matches."),
        click.option("--flat", is_flag=True, help="Pair by file name alone, ignoring subfolders."),
        click.option(
            "--missing",
            type=click.Choice(["error", "skip", "empty"]),
            default="error",
            show_default=True,
            help="A ground-truth file without prediction: an error, skipped (reported), or "
            "scored as predicting nothing.",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Any warning is an error (exit 2, after the report is written); predictions "
            "without ground truth stop the run.",
        ),
        click.option(
            "--resize-pred",
            type=click.Choice(["nearest"]),
            help="Resize predictions of another size to their ground truth (nearest neighbour).",
        ),
        click.option(
            "--trust-gt-geometry",
            is_flag=True,
            help="Volumes: use the ground truth's spacing and orientation, ignoring the "
            "prediction's header (for predictions saved without one).",
        ),
        click.option(
            "--geometry-tolerance",
            type=click.FloatRange(min=0),
            default=1e-3,
            show_default=True,
            help="Volumes: largest difference in spacing (mm) and affine at which a "
            "prediction's grid matches its ground truth's.",
        ),
        click.option(
            "--unknown-color",
            type=click.Choice(["error", "ignore"]),
            default="error",
            show_default=True,
            help="A colour missing from the class colours: an error, or unlabelled.",
        ),
        click.option(
            "--allow-lossy",
            is_flag=True,
            help="Read JPEG masks, mapping colours to the nearest class colour.",
        ),
        click.option("--npz-key", help="Array to read from NPZ files that hold several."),
        click.option(
            "--binary",
            is_flag=True,
            help="Binary masks: 0 is the background, any other value (1, 255) the "
            "foreground; no ignore value unless --ignore-index is given.",
        ),
        limit_option(
            "--max-pixels",
            DEFAULT_MAX_PIXELS,
            "Refuse masks with more pixels than this (read from the header, before decoding).",
        ),
        limit_option(
            "--max-mask-bytes",
            DEFAULT_MAX_MASK_BYTES,
            "Refuse mask files larger than this (before reading them).",
        ),
        limit_option(
            "--max-voxels",
            DEFAULT_MAX_VOXELS,
            "Refuse volumes with more voxels than this (read from the header).",
        ),
        limit_option(
            "--max-classes",
            DEFAULT_MAX_CLASSES,
            "Refuse more classes than this, given or inferred (a C x C matrix costs "
            "8 C^2 bytes per worker and per submission).",
        ),
        *_BOUNDARY_OPTIONS,
        *_INSTANCE_OPTIONS,
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            help="Parallel workers (default: all cores; 1 = none). score uses threads, "
            "batch processes.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


#: --ci given without a level means this one.
DEFAULT_CONFIDENCE = "0.95"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _OptionalLevelCommand(click.Command):
    """Lets ``--ci`` stand alone (``compare --ci a.json b.json``) or take a level (``--ci 0.9``).

    Click's optional option values consume the next word whatever it is; here the
    default level is inserted unless the next word is a number.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        completed: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                completed += args[index:]
                break
            completed.append(arg)
            following = args[index + 1] if index + 1 < len(args) else None
            if arg == "--ci" and (following is None or not _is_number(following)):
                completed.append(DEFAULT_CONFIDENCE)
        return super().parse_args(ctx, completed)


def interval_options(function: F) -> F:
    """--ci and its settings (shared by score and compare)."""
    decorators = [
        click.option(
            "--ci",
            "confidence",
            type=float,
            metavar="[LEVEL]",
            help="Bootstrap confidence intervals at LEVEL (default 0.95 when given alone); "
            "see docs/statistics.md.",
        ),
        click.option(
            "--bootstrap",
            "n_resamples",
            type=click.IntRange(min=2),
            help="Resamples of the bootstrap (default 2000; with --ci).",
        ),
        click.option(
            "--seed",
            type=click.IntRange(min=0),
            help="Seed of the resampling: the same seed gives the same intervals for any "
            "--jobs (default: drawn, and shown in the report).",
        ),
        click.option(
            "--ci-method",
            type=click.Choice(["bca", "percentile"]),
            help="Interval method (default bca: bias-corrected and accelerated).",
        ),
        click.option(
            "--group-by",
            metavar="REGEX",
            help="Resample groups of images, not images: the first capture group (or the "
            "match) of REGEX in each image key names its group, e.g. '^([^_]+)_' for "
            "CamVid sequences.",
        ),
        click.option(
            "--groups-csv",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Resample groups read from a CSV file of 'image key,group' rows.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def build_interval_options(params: dict[str, Any]) -> IntervalOptions | None:
    """IntervalOptions from --ci and its settings (None without --ci)."""
    settings = {
        "--bootstrap": params["n_resamples"],
        "--seed": params["seed"],
        "--ci-method": params["ci_method"],
        "--group-by": params["group_by"],
        "--groups-csv": params["groups_csv"],
    }
    if params["confidence"] is None:
        given = [option for option, value in settings.items() if value is not None]
        if given:
            raise UsageError(f"{given[0]} sets up confidence intervals; add --ci.")
        return None
    from segeval.intervals import IntervalOptions

    return IntervalOptions(
        confidence=params["confidence"],
        n_resamples=params["n_resamples"] or 2000,
        method=params["ci_method"] or "bca",
        seed=params["seed"],
        group_by=params["group_by"],
        groups_csv=params["groups_csv"],
    )


def threshold_options(function: F) -> F:
    """--fail-under, --fail-over and --thresholds (shared by score and merge)."""
    decorators = [
        click.option(
            "--fail-under",
            multiple=True,
            metavar="METRIC=VALUE",
            help="Exit 1 if METRIC < VALUE (e.g. miou=0.72, iou[road]=0.9, min_iou=0.3); "
            "repeatable.",
        ),
        click.option(
            "--fail-over",
            multiple=True,
            metavar="METRIC=VALUE",
            help="Exit 1 if METRIC > VALUE (for lower-is-better metrics); repeatable.",
        ),
        click.option(
            "--thresholds",
            "thresholds_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="TOML or JSON file with [fail_under] / [fail_over] tables of METRIC = VALUE.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def gate_options(function: F) -> F:
    """--junit and --github-summary (shared by score and compare)."""
    function = click.option(
        "--github-summary",
        is_flag=True,
        help="Append the Markdown summary to the file named by $GITHUB_STEP_SUMMARY.",
    )(function)
    return click.option(
        "--junit",
        type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
        help="Write the gate's checks as JUnit XML (one test case per check).",
    )(function)


@contextmanager
def build_execution(ctx: click.Context) -> Iterator[Execution]:
    """How the run executes (never part of a report's fingerprint).

    A context manager: a cluster started with ``--scheduler local`` is stopped
    when the command ends.
    """
    from segeval.run.options import Execution

    scheduler, workers = ctx.params.get("scheduler"), ctx.params.get("workers")
    if workers is not None and scheduler != "local":
        raise UsageError("--workers applies to --scheduler local; a cluster has its own.")
    if scheduler is None:
        yield Execution(jobs=ctx.params["jobs"])
        return
    from segeval.run.dask_executor import DaskExecutor

    with DaskExecutor(scheduler, workers=workers) as executor:
        yield Execution(jobs=ctx.params["jobs"], executor=executor)


def build_score_options(ctx: click.Context) -> ScoreOptions:
    """ScoreOptions from the parsed scoring options (convention applied last)."""
    from segeval.core.metrics import MetricOptions
    from segeval.inputs.classes import load_class_names, load_definition
    from segeval.inputs.pairing import PairingOptions
    from segeval.run.options import ScoreOptions

    params = ctx.params
    given = {
        name
        for name in params
        if params[name] not in (None, ())
        and ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    # --per-image-output asks for the per-image rows as --per-image does (a convention
    # without them keeps its dataset-level numbers and records the override).
    per_image = bool(params["per_image"]) or params.get("per_image_output") is not None
    if per_image:
        given.add("per_image")
    metric_options = MetricOptions(
        empty=params["empty"] or "nan",
        zero_division=params["zero_division"] or "nan",
        beta=params["beta"] if params["beta"] is not None else 1.0,
        fscore=params["fscore"] or "counts",
        gt_empty=params["gt_empty"] or "score",
        empty_mean=params["empty_mean"] or "nan",
    )
    classes = load_definition(params["classes_file"], params["preset"])
    options = ScoreOptions(
        num_classes=params["num_classes"],
        class_names=None
        if params["class_names_file"] is None
        else load_class_names(params["class_names_file"]),
        classes=classes,
        class_ids=params["class_ids"] or "none",
        ignore_index=_parse_ignore_index(params["ignore_index"]),
        metric_options=metric_options,
        exclude_classes=tuple(params["exclude_classes"]),
        out_of_range=params["out_of_range"] or "error",
        pred_ignore=params["pred_ignore"] or "miss",
        reduce_zero_label=bool(params["reduce_zero_label"]),
        per_image=per_image,
        pairing=PairingOptions(
            pred_suffix=params["pred_suffix"],
            gt_suffix=params["gt_suffix"],
            pred_glob=params["pred_glob"],
            gt_glob=params["gt_glob"],
            flat=params["flat"],
        ),
        missing=params["missing"],
        strict=params["strict"],
        resize_pred=params["resize_pred"] == "nearest",
        unknown_color=params["unknown_color"],
        allow_lossy=params["allow_lossy"],
        npz_key=params["npz_key"],
        max_pixels=params["max_pixels"],
        max_mask_bytes=params["max_mask_bytes"],
        max_voxels=params["max_voxels"],
        max_classes=params["max_classes"],
        binary=params["binary"],
        boundary=_boundary_options(params),
        trust_gt_geometry=params["trust_gt_geometry"],
        geometry_tolerance=params["geometry_tolerance"],
        gt_instances=_instance_source(params),
    )
    if params["convention"]:
        from segeval.run.conventions import apply_convention

        options = apply_convention(options, params["convention"], explicit=given)
    return options


@cli.command(cls=_OptionalLevelCommand)
@click.argument("pred_dir", type=LOCATION)
@click.argument("gt_dir", type=LOCATION)
@scoring_options
@scheduler_options
@storage_option
@interval_options
@click.option(
    "--shard",
    metavar="I/N",
    help="Score only the I-th of N slices of the sorted images (1 <= I <= N); with "
    "--save-state, for 'segeval merge'.",
)
@click.option(
    "--save-state",
    type=LOCATION,
    help="Write this run's exact partial statistics to FILE (or URL) for 'segeval merge'.",
)
@click.option(
    "--per-image-output",
    type=LOCATION,
    help="Write one row per image to this .csv or .jsonl file (implies --per-image); - or "
    "/dev/stdout streams the rows to stdout as they come (then --output names the report's file).",
)
@click.option(
    "--per-image-format",
    type=_LazyChoice("segeval.outputs.per_image_file", "PER_IMAGE_FORMATS"),
    help="Format of --per-image-output's rows (default: from its suffix; csv for stdout).",
)
@click.option(
    "--nnunet-summary",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write nnU-Net v2's summary.json (per case and label Dice, IoU, TP, FP, FN, TN; "
    "means, foreground_mean) to this file.",
)
@format_option("segeval.render.score", "Report")
@output_option("report")
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
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=DEFAULT_WORST,
    show_default=True,
    help="--format html: show this many lowest-scoring images (per-image mIoU), drawn as "
    "ground truth, prediction and error map.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="--format html: folder of photos, paired by key (a.jpg for a.png), shown under "
    "the worst images.",
)
@gate_options
@threshold_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@debug_option
@click.pass_context
def score(
    ctx: click.Context,
    /,
    pred_dir: Location,
    gt_dir: Location,
    shard: str | None,
    save_state: Location | None,
    per_image_output: Location | None,
    nnunet_summary: Path | None,
    per_image_format: str | None,
    output_format: str,
    output: Location | None,
    confusion_matrix: bool,
    normalize: str,
    worst: int,
    images_dir: Path | None,
    junit: Path | None,
    github_summary: bool,
    fail_under: tuple[str, ...],
    fail_over: tuple[str, ...],
    thresholds_file: Path | None,
    quiet: bool,
    **_scoring: Any,
) -> None:
    """Score the masks in PRED_DIR against those in GT_DIR.

    Files pair by relative path without extension (pred/a/b.png with
    gt/a/b.png or gt/a/b.npy). Prints per-class IoU, Dice, precision, recall
    and the dataset-level summary (one confusion matrix over all pixels); with
    --per-image, also the means over images; with --boundary, Boundary IoU and
    boundary F1, with --surface-distances, HD, HD95, ASSD and NSD. Metric names
    and formulas: 'segeval metrics'. With --ci, a bootstrap confidence interval
    for every dataset-level metric and per-class IoU and Dice; the JSON report
    then carries the per-image counts that 'compare --ci' resamples.

    \b
    Example:
        segeval score preds/ gt/ --num-classes 19 --ignore-index 255
        segeval score preds/ gt/ --class-names names.txt --format json | jq .summary
        segeval score preds/ gt/ --convention nnunet --per-image-output cases.csv
        segeval score labelsPred/ labelsTs/ --convention nnunet --nnunet-summary summary.json
        segeval score preds/ gt/ --num-classes 19 --fail-under miou=0.72 --junit gate.xml
        segeval score preds/ gt/ --num-classes 11 --ci 0.95 --seed 1 --group-by '^([^_]+)_'
        segeval score preds/ gt/ --preset camvid --format html --output report.html
        segeval score preds/ gt/ --preset camvid --boundary --surface-distances --fail-over hd95=50
        segeval score s3://bucket/preds s3://bucket/gt --preset cityscapes --scheduler local
        segeval score preds/ gt/ --num-classes 19 --shard 2/8 --save-state part-2.segeval
    """
    from segeval.inputs.pairing import pair_folders
    from segeval.io.storage import location
    from segeval.render import RenderOptions
    from segeval.render import score as score_formats
    from segeval.render.tables import render_with
    from segeval.run.engine import default_jobs, tune_allocator
    from segeval.run.evaluate import evaluate

    html = output_format == "html"
    _html_only(ctx, html, ["worst", "images_dir"])
    storage = _storage(ctx)
    pred_dir, gt_dir = location(pred_dir, storage), location(gt_dir, storage)
    output = _with_storage(output, storage)
    per_image_output = _with_storage(per_image_output, storage)
    save_state = _with_storage(save_state, storage)
    if per_image_format is not None and per_image_output is None:
        raise UsageError("--per-image-format sets the format of --per-image-output; add it.")
    if shard is not None and save_state is None:
        raise UsageError("--shard needs --save-state FILE: a shard is merged with segeval merge.")
    if save_state is not None:  # shards load only with --save-state (start-up)
        from segeval.run.shards import Shard

        shard_spec = Shard.parse(shard) if shard is not None else Shard(1, 1)
    _check_outputs(
        {
            "--output": output,
            "--per-image-output": per_image_output,
            "--nnunet-summary": nnunet_summary,
            "--junit": junit,
            "--save-state": save_state,
        },
        [pred_dir, gt_dir] + ([images_dir] if images_dir is not None else []),
    )
    thresholds = _thresholds(fail_under, fail_over, thresholds_file)
    intervals = build_interval_options(ctx.params)
    options = build_score_options(ctx)
    if intervals is not None:
        options = replace(options, image_counts=True)
    if thresholds:  # the gate's code loads only when there is something to check
        from segeval.gate import check_names

        known_classes = options.resolved_num_classes()
        check_names(
            thresholds,
            None if known_classes is None else options.class_names_for(known_classes),
            per_image=options.per_image,
            inferred_classes=known_classes is None,
            category_names=[]
            if options.classes is None
            else list(dict.fromkeys(name for name in options.classes.categories if name)),
            computed_options=options.computed_options(),
        )
    tune_allocator()
    # The HTML report picks its worst images while the per-image rows stream past.
    worst_images: WorstImages | None = None
    histogram: ScoreHistogram | None = None
    if html:
        from segeval.run.gallery import ImageSinks, ScoreHistogram, WorstImages, score_gallery

        worst_images, histogram = WorstImages(worst), ScoreHistogram()
    summary_writer = None
    if nnunet_summary is not None and shard is not None:
        raise UsageError(
            "--nnunet-summary needs every case of a run in one process; score without "
            "--shard to write it."
        )
    if nnunet_summary is not None:
        from segeval.outputs.nnunet_summary import NnunetSummaryWriter

        pairs = pair_folders(pred_dir, gt_dir, options.pairing).pairs
        files = {pair.key: (pair.gt_path, pair.pred_path) for pair in pairs}
        summary_writer = NnunetSummaryWriter(nnunet_summary, files)
    with (
        _per_image_writer(per_image_output, per_image_format) as image_writer,
        summary_writer if summary_writer is not None else nullcontext(),
        _Progress(not quiet, "scoring") as progress,
        build_execution(ctx) as execution,
    ):
        sinks = [
            sink
            for sink in (image_writer, summary_writer, worst_images, histogram)
            if sink is not None
        ]
        sink = None if not sinks else sinks[0] if len(sinks) == 1 else ImageSinks(sinks)
        if save_state is None:
            report = evaluate(
                pred_dir, gt_dir, options,
                execution=execution, on_progress=progress, image_sink=sink,
                storage_options=storage,
            )  # fmt: skip
        else:
            from segeval.run.shards import evaluate_shard
            from segeval.run.shards import save_state as save_state_file

            report, state = evaluate_shard(
                pred_dir, gt_dir, options, shard_spec,
                execution=execution, on_progress=progress, image_sink=sink, intervals=intervals,
                storage_options=storage,
            )  # fmt: skip
            save_state_file(state, save_state)
    # A shard's bootstrap would resample its own images only: merge adds the run's.
    if intervals is not None and (shard is None or shard_spec.count == 1):
        from segeval.intervals import with_intervals

        report = with_intervals(report, intervals, jobs=execution.jobs or default_jobs())
    gate = None
    if thresholds:
        from segeval.gate import check_thresholds

        gate = check_thresholds(report, thresholds)
    report = replace(report, gate=gate)
    gallery = None
    if worst_images is not None:
        gallery = score_gallery(
            pred_dir, gt_dir, options, report, worst_images,
            histogram=histogram, images_dir=images_dir,
        )  # fmt: skip
    render_options = RenderOptions(
        confusion_matrix=confusion_matrix, normalize=normalize, gallery=gallery
    )
    _emit(report, output_format, render_options, output)
    _warn(report.warnings)
    if options.strict and report.warnings:
        codes = ", ".join(dict.fromkeys(warning.code for warning in report.warnings))
        click.echo(f"segeval: error: --strict: the run had warnings ({codes}).", err=True)
        ctx.exit(EXIT_USAGE)
    markdown = (
        render_with(score_formats.FORMATS, report, "markdown", render_options)
        if github_summary
        else ""
    )
    _finish_gate(ctx, gate, junit=junit, github_summary=markdown, suite="segeval.score")


def _html_only(ctx: click.Context, html: bool, names: Sequence[str]) -> None:
    """Refuse options that only shape the HTML report when another format is asked for."""
    if html:
        return
    given = [
        name for name in names if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    ]
    if given:
        option = "--" + given[0].removesuffix("_dir").replace("_", "-")
        raise UsageError(f"{option} only applies to --format html.")


def _per_image_writer(
    path: Location | None, row_format: str | None = None
) -> PerImageWriter | nullcontext[None]:
    """The --per-image-output file (- is stdout), or nothing."""
    if path is None:
        return nullcontext()
    from segeval.outputs.per_image_file import PerImageWriter

    if path == STDOUT:
        return PerImageWriter(path, stream=sys.stdout, row_format=row_format)
    return PerImageWriter(path, row_format=row_format)


def _thresholds(
    fail_under: Sequence[str], fail_over: Sequence[str], thresholds_file: Path | None
) -> list[Threshold]:
    """Every --fail-under, --fail-over and --thresholds check, names checked before any work."""
    if not fail_under and not fail_over and thresholds_file is None:
        return []
    from segeval.gate import check_names, load_thresholds, parse_threshold

    thresholds = [parse_threshold(spec, "under") for spec in fail_under]
    thresholds += [parse_threshold(spec, "over") for spec in fail_over]
    if thresholds_file is not None:
        thresholds += load_thresholds(thresholds_file)
    check_names(thresholds)
    return thresholds


def _warn(warnings: Sequence[Notice]) -> None:
    for warning in warnings:
        click.echo(f"segeval: warning: {warning.message} [{warning.code}]", err=True)


def _finish_gate(
    ctx: click.Context,
    gate: GateResult | None,
    *,
    junit: Path | None,
    github_summary: str,
    suite: str,
) -> None:
    """Report the checks on stderr, write JUnit and the step summary, set the exit code."""
    if gate is not None:
        for check in gate.checks:
            click.echo(f"segeval: gate: {check.describe()}", err=True)
        verdict = "passed" if gate.passed else f"FAILED ({len(gate.failed)} of {len(gate.checks)})"
        click.echo(f"segeval: gate {verdict}", err=True)
    if junit is not None:
        from segeval.checks import GateResult
        from segeval.render.junit import render_junit

        _write(render_junit(gate or GateResult(()), suite), junit)
    if github_summary:
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if target:
            with open(target, "a", encoding="utf-8") as stream:
                stream.write(github_summary + "\n")
        else:
            click.echo(
                "segeval: warning: --github-summary: GITHUB_STEP_SUMMARY is not set; "
                "nothing appended.",
                err=True,
            )
    if gate is not None and not gate.passed:
        ctx.exit(EXIT_GATE_FAILED)


@cli.command()
@click.argument("states", nargs=-1, required=True, type=LOCATION)
@storage_option
@click.option(
    "--per-image-output",
    type=LOCATION,
    help="Write one row per image to this .csv or .jsonl file (runs with --per-image).",
)
@format_option("segeval.render.score", "Report")
@output_option("report")
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
@gate_options
@threshold_options
@debug_option
@click.pass_context
def merge(
    ctx: click.Context,
    /,
    states: tuple[Location, ...],
    per_image_output: Location | None,
    output_format: str,
    output: Location | None,
    confusion_matrix: bool,
    normalize: str,
    junit: Path | None,
    github_summary: bool,
    fail_under: tuple[str, ...],
    fail_over: tuple[str, ...],
    thresholds_file: Path | None,
    **_storage_options: Any,
) -> None:
    """Merge the saved states of every shard of a run into the run's report.

    STATES are the files (or URLs) written by 'segeval score --shard I/N
    --save-state FILE', one per shard, in any order. They must come from one
    run: the same settings, folders and segeval version, every shard once,
    every image once; anything else is refused, naming the file. The report
    is exactly the one a single run prints (every --format of score; the
    boundary metrics of --boundary and --surface-distances; iIoU of
    --gt-instances; the per-image rows too when the run had --per-image; the
    confidence intervals of the whole run when the shards were scored with
    --ci).

    \b
    Example:
        segeval merge part-*.segeval --format json --output report.json
        segeval merge 's3://bucket/run/part-*.segeval' --fail-under miou=0.7
    """
    from segeval.gate import check_thresholds
    from segeval.render import RenderOptions
    from segeval.render import score as score_formats
    from segeval.render.tables import render_with
    from segeval.run.engine import default_jobs
    from segeval.run.shards import load_state, merge_states

    storage = _storage(ctx)
    output = _with_storage(output, storage)
    per_image_output = _with_storage(per_image_output, storage)
    _check_outputs({"--output": output, "--per-image-output": per_image_output}, [])
    thresholds = _thresholds(fail_under, fail_over, thresholds_file)
    found = _expand_states([_with_storage(state, storage) for state in states])
    parts = [(str(state), load_state(state)) for state in found]
    if per_image_output is not None and not parts[0][1].settings.per_image:
        raise UsageError(
            "--per-image-output: the shards were scored without --per-image, so they hold "
            "no per-image counts; score them again with --per-image."
        )
    with _per_image_writer(per_image_output) as writer:
        report = merge_states(parts, image_sink=writer, jobs=default_jobs())
    gate = check_thresholds(report, thresholds) if thresholds else None
    report = replace(report, gate=gate)
    render_options = RenderOptions(confusion_matrix=confusion_matrix, normalize=normalize)
    _emit(report, output_format, render_options, output)
    _warn(report.warnings)
    markdown = (
        render_with(score_formats.FORMATS, report, "markdown", render_options)
        if github_summary
        else ""
    )
    _finish_gate(ctx, gate, junit=junit, github_summary=markdown, suite="segeval.merge")


def _expand_states(states: Sequence[Location | None]) -> list[Location]:
    """URL wildcards (``s3://bucket/run/part-*.segeval``) expanded; the shell does local ones."""
    from segeval.io.storage import RemotePath, glob_remote

    expanded: list[Location] = []
    for state in states:
        assert state is not None
        if isinstance(state, RemotePath) and any(mark in state.url for mark in "*?["):
            matches = glob_remote(state)
            if not matches:
                raise UsageError(f"{state}: no state file matches this pattern.")
            expanded += matches
        else:
            expanded.append(state)
    return expanded


@cli.command(cls=_OptionalLevelCommand)
@click.argument("baseline", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("candidate", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--max-drop",
    multiple=True,
    metavar="METRIC=DELTA",
    help="Exit 1 if the candidate is worse by more than DELTA (miou=0.01, iou[road]=0.02, "
    "any-class-iou=0.02); repeatable.",
)
@interval_options
@click.option(
    "--require-improvement",
    multiple=True,
    metavar="METRIC",
    help="With --ci: exit 1 unless the candidate is better on METRIC (miou, iou[road]) "
    "with the chosen confidence (the whole interval of the difference above 0); repeatable.",
)
@click.option(
    "--max-drop-ci",
    is_flag=True,
    help="With --ci: judge each --max-drop on the interval's pessimistic bound, not the "
    "point difference.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Threads of the bootstrap, and of scoring the folders of --format html "
    "(default: all cores); never changes a number.",
)
@click.option(
    "--allow-different-images",
    is_flag=True,
    help="Compare reports scored on different image sets.",
)
@format_option("segeval.render.compare", "Comparison")
@output_option("comparison")
@click.option(
    "--gt",
    "gt_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="--format html: the ground truth both reports were scored on (with --baseline-pred "
    "and --candidate-pred, shows the images that changed most).",
)
@click.option(
    "--baseline-pred",
    type=click.Path(path_type=Path, file_okay=False),
    help="--format html: the baseline's prediction folder.",
)
@click.option(
    "--candidate-pred",
    type=click.Path(path_type=Path, file_okay=False),
    help="--format html: the candidate's prediction folder.",
)
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=DEFAULT_WORST,
    show_default=True,
    help="--format html: how many of the most changed images to show.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="--format html: folder of photos, paired by key, shown beside the changed images.",
)
@gate_options
@debug_option
@click.pass_context
def compare(
    ctx: click.Context,
    /,
    baseline: Path,
    candidate: Path,
    max_drop: tuple[str, ...],
    require_improvement: tuple[str, ...],
    max_drop_ci: bool,
    jobs: int | None,
    allow_different_images: bool,
    output_format: str,
    output: Path | None,
    gt_dir: Path | None,
    baseline_pred: Path | None,
    candidate_pred: Path | None,
    worst: int,
    images_dir: Path | None,
    junit: Path | None,
    github_summary: bool,
    **_intervals: Any,
) -> None:
    """Compare two score reports (JSON) side by side, and gate on regressions.

    Both files come from 'segeval score --format json'. They must have been
    scored the same way: same classes, ignore values, aggregation, policies
    and images (--allow-different-images relaxes the last). With --ci, a
    paired bootstrap on the images both scored gives every difference an
    interval and a p-value; both reports must have been scored with --ci.

    \b
    Example:
        segeval compare release.json candidate.json --max-drop miou=0.01
        segeval compare old.json new.json --max-drop any-class-iou=0.02 --format markdown
        segeval compare old.json new.json --ci --seed 1 --require-improvement miou
        segeval compare old.json new.json --ci --max-drop miou=0.01 --max-drop-ci
        segeval compare old.json new.json --format html --output diff.html \\
            --gt gt/ --baseline-pred old_preds/ --candidate-pred new_preds/
    """
    from segeval.compare import compare_reports, load_report
    from segeval.gate import parse_max_drop
    from segeval.render import RenderOptions
    from segeval.render import compare as compare_formats
    from segeval.render.tables import render_with
    from segeval.run.engine import default_jobs
    from segeval.run.gallery import changed_from_counts, changed_images
    from segeval.run.options import Execution

    html = output_format == "html"
    folders = {"--gt": gt_dir, "--baseline-pred": baseline_pred, "--candidate-pred": candidate_pred}
    _html_only(ctx, html, ["gt_dir", "baseline_pred", "candidate_pred", "worst", "images_dir"])
    given = [option for option, folder in folders.items() if folder is not None]
    if given and len(given) < len(folders):
        missing = ", ".join(option for option, folder in folders.items() if folder is None)
        raise UsageError(f"{', '.join(given)} also needs {missing}: give all three folders.")
    inputs = [folder for folder in (*folders.values(), images_dir) if folder is not None]
    _check_outputs(
        {"--output": output, "--junit": junit}, inputs, input_files=[baseline, candidate]
    )
    comparison = compare_reports(
        load_report(baseline),
        load_report(candidate),
        max_drops=[parse_max_drop(spec) for spec in max_drop],
        allow_different_images=allow_different_images,
        baseline_name=baseline.name,
        candidate_name=candidate.name,
        intervals=build_interval_options(ctx.params),
        require_improvement=require_improvement,
        max_drop_ci=max_drop_ci,
        jobs=jobs or default_jobs(),
    )
    gallery = None
    if html and gt_dir is None:  # reports scored with --ci carry per-image counts
        gallery = changed_from_counts(comparison.baseline, comparison.candidate, k=worst)
    if gt_dir is not None and baseline_pred is not None and candidate_pred is not None:
        gallery = changed_images(
            gt_dir, baseline_pred, candidate_pred, comparison.baseline, comparison.candidate,
            k=worst, images_dir=images_dir, execution=Execution(jobs=jobs),
        )  # fmt: skip
    if _is_stdout(output) and output_format == "table" and sys.stdout.isatty():
        from rich.console import Console

        from segeval.render.terminal import print_comparison

        print_comparison(comparison, Console())
    else:
        options = RenderOptions(gallery=gallery)
        _write(render_with(compare_formats.FORMATS, comparison, output_format, options), output)
    _warn(comparison.warnings)
    markdown = (
        render_with(compare_formats.FORMATS, comparison, "markdown") if github_summary else ""
    )
    gate = comparison.gate if max_drop or require_improvement else None
    _finish_gate(ctx, gate, junit=junit, github_summary=markdown, suite="segeval.compare")


@cli.command()
@format_option("segeval.render.listings", "Listing")
@debug_option
def metrics(output_format: str) -> None:
    """List every metric name the reports and the quality gate use.

    Per-class metrics are addressed as NAME[CLASS], with a class name or id
    (iou[road], dice[3]); image_* metrics need --per-image, boundary metrics
    --boundary or --surface-distances (hd95 is the mean over classes, hd95[road]
    one class; lower is better).

    \b
    Example:
        segeval metrics
        segeval metrics --format json | jq 'keys'
    """
    from segeval.render import listings

    click.echo(listings.render_listing(listings.metric_listing(), output_format), nl=False)


@cli.command()
@format_option("segeval.render.listings", "Listing")
@debug_option
def conventions(output_format: str) -> None:
    """List the --convention presets: the tool each reproduces and its settings.

    \b
    Example:
        segeval conventions
        segeval score preds/ gt/ --convention mmseg
    """
    from segeval.render import listings
    from segeval.run.conventions import CONVENTIONS

    listing = listings.convention_listing(CONVENTIONS)
    click.echo(listings.render_listing(listing, output_format), nl=False)


@cli.command()
@click.argument("name", required=False)
@format_option("segeval.render.listings", "Listing (a preset's definition is always JSON)")
@debug_option
def presets(name: str | None, output_format: str) -> None:
    """List the built-in class definitions, or print one (NAME) as JSON.

    A printed definition is a valid --classes file: copy it to start your own.

    \b
    Example:
        segeval presets
        segeval presets cityscapes > my-classes.json
    """
    from segeval.inputs.classes import PRESET_NAMES, load_preset
    from segeval.render import listings

    if name is not None:
        click.echo(json.dumps(load_preset(name).to_dict(), indent=2))
        return
    listing = listings.preset_listing({preset: load_preset(preset) for preset in PRESET_NAMES})
    click.echo(listings.render_listing(listing, output_format), nl=False)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Check values and colours against this class definition.",
)
@click.option(
    "--preset",
    type=_LazyChoice("segeval.inputs.classes", "PRESET_NAMES"),
    help="Check values and colours against a built-in class definition.",
)
@click.option("--class-ids", is_flag=True, help="The masks hold class ids, not label-map values.")
@click.option("--npz-key", help="Array to read from NPZ files that hold several.")
@limit_option(
    "--max-pixels",
    DEFAULT_MAX_PIXELS,
    "List masks with more pixels than this as unreadable (from the header).",
)
@limit_option(
    "--max-mask-bytes",
    DEFAULT_MAX_MASK_BYTES,
    "List mask files larger than this as unreadable (before reading them).",
)
@limit_option(
    "--max-voxels",
    DEFAULT_MAX_VOXELS,
    "List volumes with more voxels than this as unreadable (from the header).",
)
@click.option(
    "--against",
    "against",
    type=click.Path(path_type=Path, file_okay=False),
    help="Volumes: the ground-truth folder; each volume's shape, spacing and orientation "
    "are checked against its ground truth's.",
)
@click.option(
    "--geometry-tolerance",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="With --against: largest difference in spacing (mm) and affine that still matches.",
)
@format_option("segeval.render.inspection", "Report")
@debug_option
def inspect(
    folder: Path,
    classes_file: Path | None,
    preset: str | None,
    class_ids: bool,
    npz_key: str | None,
    max_pixels: int,
    max_mask_bytes: int,
    max_voxels: int,
    against: Path | None,
    geometry_tolerance: float,
    output_format: str,
) -> None:
    """Show what a folder of masks holds, and what looks wrong.

    File formats and modes, sizes, label values with pixel counts (colours for
    RGB masks), files that cannot be read, and hints: colour masks, JPEG masks,
    Cityscapes labelIds versus trainIds, 0/255 binary masks. Volumes (NIfTI,
    NRRD, MetaImage, 3-D NPY): shapes, spacings and orientations; with
    --against GT_DIR, every volume whose grid differs from its ground truth's.
    Run it first when a score looks wrong.

    \b
    Example:
        segeval inspect gt/
        segeval inspect preds/ --preset cityscapes
        segeval inspect labelsPred/ --against labelsTs/
    """
    from segeval.inputs.classes import load_definition
    from segeval.inspection import inspect_folder
    from segeval.io import ReadOptions
    from segeval.render import inspection as inspection_formats
    from segeval.render.tables import render_with

    classes = load_definition(classes_file, preset)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; pass a folder of mask files.")
    if against is not None and not against.is_dir():
        raise UsageError(f"--against {against}: not a folder; pass the ground-truth folder.")
    limits = ReadOptions(max_pixels=max_pixels, max_bytes=max_mask_bytes, max_voxels=max_voxels)
    found = inspect_folder(
        folder, classes=classes, class_ids=class_ids, npz_key=npz_key, read_options=limits,
        against=against, geometry_tolerance=geometry_tolerance,
    )  # fmt: skip
    _write(render_with(inspection_formats.FORMATS, found, output_format), None)


@cli.command()
@click.argument("submissions", type=LOCATION)
@click.argument("gt_dir", type=LOCATION)
@scoring_options
@scheduler_options
@storage_option
@click.option(
    "--rank-by",
    default="miou",
    show_default=True,
    help="Summary metric that ranks submissions (ties: mIoU, mDice, pixel accuracy, name).",
)
@click.option(
    "--output-dir",
    type=LOCATION,
    help="Also write each submission's full score report (JSON, and HTML with --format html) "
    "here: a folder or a URL prefix.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip submissions whose report in --output-dir has the same settings and content.",
)
@limit_option(
    "--max-archive-bytes",
    DEFAULT_MAX_ARCHIVE_BYTES,
    "Refuse archives whose members declare more bytes than this, uncompressed.",
)
@limit_option(
    "--max-extract-bytes",
    DEFAULT_MAX_EXTRACT_BYTES,
    "Most bytes of extracted submissions in the temporary folder at once (archives "
    "are unpacked as they are scored, then deleted).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds a submission may take to be unpacked and scored; a slower one is invalid.",
)
@format_option("segeval.render.leaderboard", "Leaderboard")
@output_option("leaderboard")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@debug_option
@click.pass_context
def batch(
    ctx: click.Context,
    /,
    submissions: Location,
    gt_dir: Location,
    rank_by: str,
    output_dir: Location | None,
    resume: bool,
    max_archive_bytes: int,
    max_extract_bytes: int,
    timeout: float,
    output_format: str,
    output: Location | None,
    quiet: bool,
    **_scoring: Any,
) -> None:
    """Score every submission in SUBMISSIONS against GT_DIR and rank them.

    Each child of SUBMISSIONS is one submission: a folder, or a .zip, .tar or
    .tar.gz archive (named by the child, without extension, or by its full
    name when two children share a stem). Every scoring option applies to
    each. Each ground-truth mask is decoded once per group of submissions.
    Submissions are untrusted: archives with absolute or '..' paths, links or
    devices, folders with links leading outside or to the ground truth, files
    that are not regular files, and anything over a limit (--max-pixels,
    --max-mask-bytes, --max-archive-bytes, --max-extract-bytes, --timeout;
    docs/security.md lists them all) are rejected. A submission that fails is
    listed as invalid with its first error; the batch always finishes. Exit 0,
    or 1 with --strict when any is invalid. SUBMISSIONS, GT_DIR and
    --output-dir may be URL prefixes (s3://, gs://, az://): each sub-prefix or
    archive object is a submission, read by the workers from the store.

    \b
    Example:
        segeval batch submissions/ gt/ --preset cityscapes --output-dir reports/
        segeval batch s3://bucket/submissions s3://bucket/gt --preset cityscapes \\
            --output-dir s3://bucket/reports
        segeval batch submissions/ gt/ --num-classes 11 --ignore-index 11 --format markdown
        segeval batch submissions/ gt/ --preset camvid --format html --output board.html \\
            --output-dir reports/
    """
    from segeval.io.storage import location
    from segeval.outputs.atomic import refuse_inside_inputs
    from segeval.render import RenderOptions
    from segeval.render import leaderboard as leaderboard_formats
    from segeval.render.tables import printable, render_with
    from segeval.run.batch import BatchOptions, run_batch
    from segeval.run.engine import tune_allocator

    if resume and output_dir is None:
        raise UsageError("--resume needs --output-dir, where the earlier reports are.")
    storage = _storage(ctx)
    submissions, gt_dir = location(submissions, storage), location(gt_dir, storage)
    output, output_dir = _with_storage(output, storage), _with_storage(output_dir, storage)
    _check_outputs({"--output": output}, [submissions, gt_dir])
    if output_dir is not None:
        refuse_inside_inputs(output_dir, "--output-dir", [submissions, gt_dir])
        if not _is_stdout(output) and output is not None:
            refuse_inside_inputs(output, "--output", [output_dir])
    tune_allocator()
    score_options = build_score_options(ctx)
    options = BatchOptions(
        score=replace(score_options, strict=False),
        rank_by=rank_by,
        max_archive_bytes=max_archive_bytes,
        max_extract_bytes=max_extract_bytes,
        timeout=timeout,
        output_dir=output_dir,
        resume=resume,
        strict=score_options.strict,
    )
    with (
        _Progress(not quiet, "scoring", unit="mask") as progress,
        build_execution(ctx) as execution,
    ):
        options = replace(options, execution=execution)
        board = run_batch(
            submissions, gt_dir, options, on_progress=progress, storage_options=storage
        )
    links = {}
    if output_format == "html" and output_dir is not None:
        links = _write_submission_pages(board, output_dir, None if _is_stdout(output) else output)
    render_options = RenderOptions(links=links)
    _write(render_with(leaderboard_formats.FORMATS, board, output_format, render_options), output)
    for entry in board.entries:
        for warning in () if entry.report is None else entry.report.warnings:
            click.echo(
                f"segeval: warning: submission {entry.name}: {warning.message} [{warning.code}]",
                err=True,
            )
    for entry in board.invalid:
        line = f"segeval: invalid submission {entry.name}: {entry.reason}"
        click.echo(printable(line), err=True)
    if options.strict and board.invalid:
        ctx.exit(EXIT_GATE_FAILED)


@cli.group()
def plot() -> None:
    """Draw figures for papers and slides from a saved JSON score report.

    PNG, SVG or PDF, chosen by the output file's suffix. Needs matplotlib, an
    optional extra: pip install 'segeval-masks[plot]'. (The HTML report of
    'segeval score --format html' needs nothing extra.)

    \b
    Example:
        segeval score preds/ gt/ --preset camvid --format json --output report.json
        segeval plot confusion report.json -o cm.png
        segeval plot per-class report.json -o classes.svg --metric iou --metric dice
    """


def _figure_output(function: F) -> F:
    return click.option(
        "--output",
        "-o",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Figure file: .png, .svg or .pdf (written atomically).",
    )(function)


def _save_figure(draw: Callable[[str], bytes], output: Path) -> None:
    from segeval.outputs.atomic import write_bytes_atomic
    from segeval.render.figures import FIGURE_FORMATS

    suffix = output.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise UsageError(
            f"--output {output}: write a figure as {', '.join(FIGURE_FORMATS)} (by its suffix)."
        )
    _check_outputs({"--output": output}, [])
    write_bytes_atomic(output, draw(FIGURE_FORMATS[suffix]))


@plot.command("confusion")
@click.argument(
    "report_file", metavar="REPORT.json", type=click.Path(path_type=Path, dir_okay=False)
)
@_figure_output
@click.option(
    "--normalize",
    type=click.Choice(["rows", "cols", "counts"]),
    default="rows",
    show_default=True,
    help="Shares of each ground-truth row, of each predicted column, or pixel counts.",
)
@debug_option
def plot_confusion(report_file: Path, output: Path, normalize: str) -> None:
    """The confusion matrix as a heat map (viridis; undefined cells hatched).

    \b
    Example:
        segeval plot confusion report.json -o cm.png
        segeval plot confusion report.json -o cm.svg --normalize counts
    """
    from segeval.compare import load_report
    from segeval.render.figures import confusion_figure

    report = load_report(report_file)
    _save_figure(
        lambda kind: confusion_figure(report, normalize=normalize, output_format=kind), output
    )


@plot.command("per-class")
@click.argument(
    "report_file", metavar="REPORT.json", type=click.Path(path_type=Path, dir_okay=False)
)
@_figure_output
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    default=("iou", "dice"),
    show_default=True,
    help="Per-class metric to draw (repeatable): iou, dice, precision, recall, ...",
)
@debug_option
def plot_per_class(report_file: Path, output: Path, metrics: tuple[str, ...]) -> None:
    """Per-class metrics as grouped horizontal bars with their values.

    \b
    Example:
        segeval plot per-class report.json -o classes.png
        segeval plot per-class report.json -o recall.pdf --metric recall
    """
    from segeval.compare import load_report
    from segeval.render.figures import per_class_figure

    report = load_report(report_file)
    _save_figure(lambda kind: per_class_figure(report, metrics=metrics, output_format=kind), output)


def _write_submission_pages(
    board: Leaderboard, output_dir: Location, output: Location | None
) -> dict[str, str]:
    """Each scored submission's own HTML report in --output-dir; links from the leaderboard."""
    from segeval.outputs.atomic import write_text_atomic
    from segeval.render import score as score_formats
    from segeval.render.tables import render_with

    links = {}
    for entry in board.entries:
        if entry.report is None:
            continue
        target = output_dir / f"{entry.name}.html"
        write_text_atomic(target, render_with(score_formats.FORMATS, entry.report, "html"))
        links[entry.name] = _link(target, output)
    return links


def _link(target: Location, page: Location | None) -> str:
    """How a page at ``page`` (stdout: the working folder) links to ``target``.

    Relative when both are local, or both in one bucket; else the target's URL.
    """
    from segeval.io.storage import RemotePath

    if isinstance(target, RemotePath):
        if isinstance(page, RemotePath) and page.protocol == target.protocol:
            bucket, key = target.url.split("://", 1)[1].split("/", 1)
            page_bucket, page_key = page.url.split("://", 1)[1].split("/", 1)
            if bucket == page_bucket:
                return posixpath.relpath(key, posixpath.dirname(page_key) or ".")
        return target.url
    if isinstance(page, RemotePath):
        return target.resolve().as_uri()
    start = (page.resolve().parent if page is not None else Path.cwd()).resolve()
    return Path(os.path.relpath(target.resolve(), start)).as_posix()


#: Options of ``score`` that ``loss`` shares as they are: how the ground truth is read
#: and how files pair up (the same Option objects, so the two never disagree).
_LOSS_SHARED_OPTIONS = (
    "class_names_file",
    "classes_file",
    "preset",
    "class_ids",
    "ignore_index",
    "reduce_zero_label",
    "binary",
    "pred_suffix",
    "gt_suffix",
    "pred_glob",
    "gt_glob",
    "flat",
    "strict",
    "unknown_color",
    "allow_lossy",
    "npz_key",
    "max_pixels",
)


def _shared_with_score(function: F) -> F:
    """Attach score's ground-truth and pairing options to a command."""
    by_name = {param.name: param for param in score.params}
    params: list[click.Parameter] = getattr(function, "__click_params__", [])
    params.extend(by_name[name] for name in reversed(_LOSS_SHARED_OPTIONS))
    function.__click_params__ = params  # type: ignore[attr-defined]
    return function


def build_loss_options(ctx: click.Context) -> tuple[ScoreOptions, LossOptions]:
    """How the ground truth is read and paired, and how the losses are computed."""
    from segeval.inputs.classes import load_class_names, load_definition
    from segeval.inputs.pairing import PairingOptions
    from segeval.losses.options import LossOptions, parse_floats
    from segeval.run.options import ScoreOptions

    params = ctx.params
    options = ScoreOptions(
        num_classes=params["num_classes"],
        class_names=None
        if params["class_names_file"] is None
        else load_class_names(params["class_names_file"]),
        classes=load_definition(params["classes_file"], params["preset"]),
        class_ids="gt" if params["class_ids"] in ("gt", "both") else "none",
        ignore_index=_parse_ignore_index(params["ignore_index"]),
        reduce_zero_label=bool(params["reduce_zero_label"]),
        pairing=PairingOptions(
            pred_suffix=params["pred_suffix"],
            gt_suffix=params["gt_suffix"],
            pred_glob=params["pred_glob"],
            gt_glob=params["gt_glob"],
            flat=params["flat"],
        ),
        missing=params["missing"],
        strict=params["strict"],
        unknown_color=params["unknown_color"],
        allow_lossy=params["allow_lossy"],
        npz_key=params["npz_key"],
        max_pixels=params["max_pixels"],
        binary=params["binary"],
    )
    alpha_text = params["alpha"]
    alpha: float | tuple[float, ...] | None = None
    if alpha_text is not None:
        values = parse_floats(alpha_text, "--alpha")
        alpha = values[0] if len(values) == 1 else values
    loss_options = LossOptions(
        input=params["input_kind"],
        class_weights=None
        if params["class_weights"] is None
        else parse_floats(params["class_weights"], "--class-weights"),
        label_smoothing=params["label_smoothing"],
        pos_weight=params["pos_weight"],
        gamma=params["gamma"],
        alpha=alpha,
        convention=params["loss_convention"],
        smooth=params["smooth"],
        lovasz_per_image=params["lovasz_per_image"],
        lovasz_budget_bytes=params["lovasz_budget"] * 2**20,
        n_bins=params["ece_bins"],
    )
    return options, loss_options


@cli.command()
@click.argument("pred_dir", type=LOCATION)
@click.argument("gt_dir", type=LOCATION)
@click.option(
    "--loss",
    "loss_specs",
    multiple=True,
    metavar="NAME[=WEIGHT]",
    help="A loss term and its weight in the total (default 1); repeat for several. NAME: "
    "ce, bce, focal, dice, jaccard, lovasz, boundary.",
)
@click.option(
    "--input",
    "input_kind",
    type=click.Choice(["logits", "probs"]),
    default="logits",
    show_default=True,
    help="Scores are logits (softmax applied; sigmoid for one channel) or probabilities "
    "(each pixel's channels must sum to 1).",
)
@click.option(
    "--class-weights",
    metavar="W0,W1,...",
    help="Cross-entropy weight of each class (PyTorch weight=).",
)
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Cross-entropy label smoothing (PyTorch label_smoothing=).",
)
@click.option(
    "--pos-weight",
    type=click.FloatRange(min=0),
    help="Binary cross-entropy weight of foreground pixels (PyTorch pos_weight=).",
)
@click.option(
    "--gamma", type=click.FloatRange(min=0), default=2.0, show_default=True, help="Focal gamma."
)
@click.option(
    "--alpha",
    metavar="A|A0,A1,...",
    help="Focal alpha: one channel, torchvision's alpha (default 0.25, negative disables); "
    "several, one weight per class (default none).",
)
@click.option(
    "--smooth",
    type=click.FloatRange(min=0),
    help="Dice/Jaccard smoothing (default: the convention's, smp 0, MONAI 1e-5).",
)
@click.option(
    "--loss-convention",
    type=click.Choice(["smp", "monai"]),
    default="smp",
    show_default=True,
    help="Dice/Jaccard as segmentation-models-pytorch (sums over the whole set per class) "
    "or MONAI (per image and class, then the mean) computes them.",
)
@click.option(
    "--lovasz-per-image",
    is_flag=True,
    help="Lovasz as the mean of per-image values (smp per_image=True) instead of over the "
    "whole set.",
)
@click.option(
    "--lovasz-budget",
    type=click.IntRange(min=1),
    default=2048,
    show_default=True,
    metavar="MIB",
    help="Memory the whole-set Lovasz may hold (10 bytes per pixel and class); refused beyond.",
)
@click.option(
    "--calibration",
    is_flag=True,
    help="Also report the expected calibration error and the Brier score.",
)
@click.option(
    "--ece-bins",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Equal-width confidence bins of the expected calibration error.",
)
@click.option("--per-image", is_flag=True, help="Also show every image's values.")
@click.option(
    "--worst",
    type=click.IntRange(min=1),
    metavar="N",
    help="Also show the N images with the highest weighted total, with each term.",
)
@click.option(
    "--missing",
    type=click.Choice(["error", "skip"]),
    default="error",
    show_default=True,
    help="A ground-truth file without scores: an error, or skipped (reported).",
)
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    help="Number of classes (default: the scores' channel count; 2 for one binary channel).",
)
@_shared_with_score
@format_option("segeval.render.loss", "Report")
@output_option("report")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Worker threads (default: all cores; 1 = none). Never changes a number.",
)
@scheduler_options
@storage_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@debug_option
@click.pass_context
def loss(
    ctx: click.Context,
    /,
    pred_dir: Location,
    gt_dir: Location,
    loss_specs: tuple[str, ...],
    calibration: bool,
    per_image: bool,
    worst: int | None,
    output_format: str,
    output: Location | None,
    quiet: bool,
    **_options: Any,
) -> None:
    """Compute training losses on the scores in PRED_DIR against the masks in GT_DIR.

    PRED_DIR holds one .npy/.npz score map per image, channels first:
    (C, H, W) logits or probabilities, float16/32/64; (1, H, W) or (H, W) is
    binary. Files pair with the ground truth as in 'segeval score', and the
    masks are read as there (classes, presets, ignore values). Each term is
    computed over the whole set as the reference library would on one batch
    (PyTorch, torchvision, segmentation-models-pytorch, MONAI), and the total
    is the weighted sum. Scores are memory-mapped and read in row blocks;
    PRED_DIR and GT_DIR may be URL prefixes (s3://, gs://, az://), whose
    objects the workers read into memory.

    \b
    Example:
        segeval loss logits/ gt/ --num-classes 19 --loss ce --loss dice=0.5
        segeval loss logits/ gt/ --preset cityscapes --class-ids gt \\
            --loss ce --loss lovasz --lovasz-per-image --worst 10 --calibration
        segeval loss probs/ masks/ --input probs --loss bce --loss focal --format json
        segeval loss logits/ gt/ --num-classes 19 --loss ce --scheduler tcp://dask:8786
        segeval loss s3://bucket/logits s3://bucket/gt --num-classes 19 --loss ce
    """
    from segeval.io.storage import location
    from segeval.losses.options import parse_terms
    from segeval.render import RenderOptions
    from segeval.render import loss as loss_formats
    from segeval.render.tables import render_with
    from segeval.run.engine import tune_allocator
    from segeval.run.losses import evaluate_losses

    storage = _storage(ctx)
    pred_dir, gt_dir = location(pred_dir, storage), location(gt_dir, storage)
    output = _with_storage(output, storage)
    _check_outputs({"--output": output}, [pred_dir, gt_dir])
    terms = parse_terms(loss_specs)
    if not terms and not calibration:
        raise UsageError(
            "nothing to compute: give at least one --loss NAME[=WEIGHT] (ce, bce, focal, "
            "dice, jaccard, lovasz, boundary), or --calibration."
        )
    options, loss_options = build_loss_options(ctx)
    tune_allocator()
    with (
        _Progress(not quiet, "losses", unit="image") as progress,
        build_execution(ctx) as execution,
    ):
        report = evaluate_losses(
            pred_dir, gt_dir, terms, loss_options, options,
            calibration=calibration, execution=execution, on_progress=progress,
        )  # fmt: skip
    render_options = RenderOptions(per_image=per_image, worst=worst or 0)
    _write(render_with(loss_formats.FORMATS, report, output_format, render_options), output)
    _warn(report.warnings)
    if options.strict and report.warnings:
        codes = ", ".join(dict.fromkeys(warning.code for warning in report.warnings))
        click.echo(f"segeval: error: --strict: the run had warnings ({codes}).", err=True)
        ctx.exit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``segeval`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="segeval")
