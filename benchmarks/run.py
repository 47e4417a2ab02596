"""``make bench``: measure segeval against its decode floor and other evaluators.

Every number comes from this run, on this machine: each measurement runs in a
fresh process (``benchmarks/worker.py``) while this process samples the
resident memory of that process and all its children from /proc. segeval and
its floor alternate over several rounds and the best run of each is kept
(interference from the rest of the machine only ever adds time). The results
table is printed and written to ``docs/performance.md``.

Usage: python -m benchmarks.run [--pairs 200] [--ade-pairs 2000] [--jobs N]
       [--rounds 3] [--baseline-pairs 50] [--loss-images 3] [--output docs/performance.md]
       [--quick] [--only losses|boundary|dask]

``--only losses`` measures ``segeval loss`` alone (``benchmarks/loss_bench.py``),
``--only boundary`` the boundary metrics alone and ``--only dask`` the Dask
cluster against threads (``benchmarks/dask_bench.py``); each replaces its
section of the output file, leaving the other sections as the last full run
wrote them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import loss_bench
from benchmarks.bootstrap_bench import measure as measure_bootstrap
from benchmarks.dask_bench import measure_dask, render_dask
from benchmarks.datasets import ensure_ade_set, ensure_cityscapes_set

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
DECODER_MODULES = {
    "pillow": "PIL",
    "imagecodecs": "imagecodecs",
    "pyspng": "pyspng",
    "opencv": "cv2",
}


@dataclass
class Measurement:
    """One worker run: timing from the worker, peak memory of its process tree."""

    seconds: float
    pairs: int
    pixels: int
    peak_rss: int
    spread: tuple[float, float] | None = None  # slowest and fastest run, ms/pair
    cpu_seconds: float = 0.0

    @property
    def ms_per_pair(self) -> float:
        return 1000 * self.seconds / self.pairs

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds

    @property
    def megapixels_per_second(self) -> float:
        # Each pair is two masks of `pixels / pairs` pixels.
        return 2 * self.pixels / self.seconds / 1e6


def _tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(
    mode: str,
    folder: Path,
    *,
    jobs: int = 1,
    limit: int | None = None,
    classes: int = 19,
    pred: Path | None = None,
) -> Measurement:
    """Run one worker on folder/pred (or `pred`) and folder/gt; sample memory every 10 ms."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        mode,
        str(pred or folder / "pred"),
        str(folder / "gt"),
        "--jobs",
        str(jobs),
        "--classes",
        str(classes),
    ]
    if limit is not None:
        command += ["--limit", str(limit)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{mode} failed with exit code {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    return Measurement(
        result["seconds"], result["pairs"], result["pixels"], peak,
        cpu_seconds=result.get("cpu_seconds", 0.0),
    )  # fmt: skip


def _best(runs: list[Measurement]) -> Measurement:
    best = min(runs, key=lambda run: run.seconds)
    times = [run.ms_per_pair for run in runs]
    return replace(best, spread=(max(times), min(times)))


def best_of(mode: str, folder: Path, rounds: int, **kwargs: Any) -> Measurement:
    return _best([measure(mode, folder, **kwargs) for _ in range(rounds)])


def alternate(
    folder: Path, rounds: int, jobs: int, classes: int
) -> tuple[Measurement, Measurement]:
    """segeval and its floor, interleaved so that drift hits both equally."""
    best = alternate_modes(["floor", "segeval"], folder, rounds, jobs, classes)
    return best["floor"], best["segeval"]


def alternate_modes(
    modes: list[str], folder: Path, rounds: int, jobs: int, classes: int
) -> dict[str, Measurement]:
    """Several worker modes, one run of each per round (drift hits all of them alike).

    Each mode's best run is kept, and its ratio to the floor measured in the same
    round is recorded (``ratios``): on a shared machine the per-round ratio is
    the steadier figure.
    """
    runs: dict[str, list[Measurement]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode in modes:
            runs[mode].append(measure(mode, folder, jobs=jobs, classes=classes))
    best = {mode: _best(measured) for mode, measured in runs.items()}
    if "floor" in runs:
        for mode, measured in runs.items():
            ROUND_RATIOS[(folder.name, jobs, mode)] = [
                run.seconds / floor.seconds
                for run, floor in zip(measured, runs["floor"], strict=True)
            ]
    return best


#: (set, jobs, mode) -> each round's time over the floor's time in that round.
ROUND_RATIOS: dict[tuple[str, int, str], list[float]] = {}


#: The start-up commands the targets hold to 150 ms above ``python -c pass``.
STARTUP_TARGETS = ("segeval --version", "segeval score (1 pair, 64 x 64)")


def small_pair_set() -> Path:
    """One 64 x 64 pair: a score whose time is start-up, with next to no work."""
    target = CACHE / "startup-64"
    if (target / ".complete").exists():
        return target
    import numpy as np
    from PIL import Image

    labels = np.random.default_rng(0).integers(0, 19, (64, 64), dtype=np.uint8)
    for side in ("gt", "pred"):
        (target / side).mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels).save(target / side / "00000.png")
    (target / ".complete").touch()
    return target


#: What every score imports and segeval cannot make lighter.
LIBRARIES = "import numpy, imagecodecs, click, json"


def startup(bench_set: Path, rounds: int) -> dict[str, list[float]]:
    """Wall seconds of short commands in fresh processes, interleaved round by round.

    ``python -c pass`` is the bare interpreter; the libraries no score can do
    without, ``segeval --version`` and one-pair ``score`` runs (a tiny pair:
    start-up alone; a Cityscapes-size pair: start-up plus its decoding and
    counting) are measured against it.
    """
    segeval = str(Path(sys.executable).with_name("segeval"))
    small = small_pair_set()

    def score(folder: Path) -> list[str]:
        return [
            segeval, "score", str(folder / "pred"), str(folder / "gt"),
            "--num-classes", "19", "--format", "json", "--quiet",
        ]  # fmt: skip

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy, imagecodecs, click, json'": [sys.executable, "-c", LIBRARIES],
        "segeval --version": [segeval, "--version"],
        "segeval score (1 pair, 64 x 64)": score(small),
        "segeval score (1 pair, 2048 x 1024)": score(bench_set),
    }
    # As installed: with bytecode caches (a first run writes them), whatever this
    # shell says about writing them.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for round_index in range(rounds + 1):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(
                command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, env=environment
            )
            if round_index:  # the first round warms the caches
                seconds[name].append(time.perf_counter() - started)
    return seconds


def submissions_set(source: Path, count: int) -> Path:
    """`count` submission folders of hard links to the source's predictions, in <set>/subs."""
    target = CACHE / f"{source.name}-batch{count}"
    if (target / ".complete").exists():
        return target
    names = sorted(path.name for path in (source / "pred").glob("*.png"))
    for team in range(count):
        folder = target / "subs" / f"team_{team}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            if not (folder / name).exists():
                os.link(source / "pred" / name, folder / name)
    (target / ".complete").touch()
    return target


def linked_subset(source: Path, count: int) -> Path:
    """A folder of `count` pairs made of hard links to the cached set (cycled if needed)."""
    target = CACHE / f"{source.name}-as-{count}"
    if (target / ".complete").exists():
        return target
    names = sorted(path.name for path in (source / "gt").glob("*.png"))
    for side in ("gt", "pred"):
        (target / side).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            link = target / side / f"{index:05d}.png"
            if not link.exists():
                os.link(source / side / names[index % len(names)], link)
    (target / ".complete").touch()
    return target


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import numpy
    import PIL

    from segeval.io.png import active_decoder

    return (
        f"{cpu}; {os.cpu_count()} cores; {memory:.0f} GiB; {platform.platform()}; "
        f"Python {platform.python_version()}; numpy {numpy.__version__}; Pillow {PIL.__version__}; "
        f"decoder: {active_decoder()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--ade-pairs", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-pairs", type=int, default=50)
    parser.add_argument("--memory-pairs", type=int, nargs=2, default=(50, 500))
    parser.add_argument("--submissions", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument(
        "--quick", action="store_true", help="Small sets, one round (a smoke test)."
    )
    parser.add_argument("--loss-images", type=int, default=3)
    parser.add_argument("--boundary-pairs", type=int, default=30)
    parser.add_argument("--boundary-core-pairs", type=int, default=5)
    parser.add_argument(
        "--only",
        choices=["losses", "boundary", "dask"],
        help="Run one part and replace its section of --output.",
    )
    args = parser.parse_args()
    if args.only == "losses":
        lines = _losses(args)
        print("\n".join(lines))
        args.output.write_text(replace_section(args.output.read_text(), lines))
        print(f"Section written to {args.output}")
        return
    if args.quick:
        args.pairs, args.ade_pairs, args.rounds, args.baseline_pairs = 20, 40, 1, 5
        args.memory_pairs = (10, 40)
        args.submissions = 3
        args.boundary_pairs, args.boundary_core_pairs = 4, 1

    print(f"Generating or reusing cached sets under {CACHE} ...", flush=True)
    city = ensure_cityscapes_set(CACHE, args.pairs)
    if args.only == "boundary":
        section = boundary_section(city, args)
        print(section)
        if not args.quick:
            args.output.write_text(replace_section(args.output.read_text(), section.split("\n")))
            print(f"Section written to {args.output}")
        return
    if args.only == "dask":
        print("Dask LocalCluster (2 workers) against the thread engine ...", flush=True)
        lines = render_dask(measure_dask(city, rounds=args.rounds))
        print("\n".join(lines))
        if not args.quick:
            args.output.write_text(replace_section(args.output.read_text(), lines))
            print(f"Section written to {args.output}")
        return
    ade = ensure_ade_set(CACHE, args.ade_pairs)

    print("Decoders, one thread, on label PNGs ...", flush=True)
    decoders: dict[str, tuple[Measurement | None, Measurement | None]] = {}
    for name, module in DECODER_MODULES.items():
        if importlib.util.find_spec(module) is None:
            decoders[name] = (None, None)
            continue
        decoders[name] = (
            best_of(f"decode-{name}", city, args.rounds, limit=25),
            best_of(f"decode-{name}", ade, args.rounds, limit=250),
        )

    load_before = os.getloadavg()
    print("Start-up: bare python, segeval --version, a one-pair score ...", flush=True)
    startups = startup(linked_subset(city, 1), 3 * args.rounds)

    print("Cityscapes-like set: floor vs segeval, --per-image, --ci ...", flush=True)
    city_modes = alternate_modes(
        ["floor", "segeval", "segeval-per-image", "segeval-ci"], city, args.rounds, args.jobs, 19
    )
    city_floor, city_segeval = city_modes["floor"], city_modes["segeval"]
    city_single_floor, city_single = alternate(city, args.rounds, 1, 19)
    print("ADE20K-like set: floor vs segeval ...", flush=True)
    ade_floor, ade_segeval = alternate(ade, args.rounds, args.jobs, 150)
    ade_single_floor = best_of("floor", ade, args.rounds, jobs=1, classes=150)
    counting = {
        (name, mode): best_of(mode, folder, args.rounds, limit=limit, classes=classes)
        for name, folder, limit, classes in (
            ("Cityscapes-like", city, 40, 19),
            ("ADE20K-like", ade, 400, 150),
        )
        for mode in ("count", "count-pairs")
    }

    baselines: dict[str, Measurement | None] = {}
    for mode in ("sklearn", "numpy", "torchmetrics"):
        if mode == "torchmetrics" and importlib.util.find_spec("torchmetrics") is None:
            baselines[mode] = None
            continue
        print(f"Baseline {mode} on {args.baseline_pairs} pairs ...", flush=True)
        baselines[mode] = best_of(mode, city, 1, limit=args.baseline_pairs)

    print("Memory at two dataset sizes ...", flush=True)
    memory = {
        count: measure("segeval", linked_subset(city, count), jobs=args.jobs, classes=19)
        for count in args.memory_pairs
    }
    cityscapes_official = _cityscapes_baseline(city, args.baseline_pairs)

    print(f"Batch of {args.submissions} submissions vs separate score runs ...", flush=True)
    subs = submissions_set(city, args.submissions) / "subs"
    batch_runs, separate_rounds = [], []
    for _ in range(args.rounds):
        batch_runs.append(measure("batch", city, jobs=args.jobs, pred=subs))
        separate_rounds.append(
            sum(
                measure("segeval", city, jobs=args.jobs, pred=subs / name).seconds
                for name in sorted(os.listdir(subs))
            )
        )
    batch = _best(batch_runs)
    separate = min(separate_rounds)
    boundary = boundary_section(city, args)
    print("Dask LocalCluster (2 workers) against the thread engine ...", flush=True)
    dask_results = measure_dask(city, rounds=args.rounds)
    dask_section = render_dask(dask_results)
    CAPABILITIES["dask"] = {
        "wall": 1 + dask_results.overhead,
        "cpu": 1 + dask_results.cpu_overhead,
    }
    loss_lines = _losses(args)

    # In this process and a few seconds in all: the bootstrap works on counts, not files.
    print("Bootstrap: 2,000 resamples of 500 images x 19 classes ...", flush=True)
    bootstrap = measure_bootstrap(rounds=args.rounds)

    load_after = os.getloadavg()
    report = render(
        args,
        city_floor,
        city_segeval,
        city_single_floor,
        city_single,
        ade_floor,
        ade_segeval,
        baselines,
        memory,
        cityscapes_official,
        (batch, separate),
        counting,
        decoders,
        ade_single_floor,
        bootstrap,
        startups=startups,
        capabilities=[
            ("`score --per-image` (each pair counted on its own)", city_modes["segeval-per-image"]),
            ("`score --ci` (bootstrap, 2,000 resamples)", city_modes["segeval-ci"]),
        ],
        per_image=city_modes["segeval-per-image"],
        load=(load_before, load_after),
    )
    report += "\n" + "\n".join(loss_lines)
    report += "\n" + boundary
    report += "\n".join(["", *dask_section])
    print(report)
    if not args.quick:
        args.output.write_text(report)
        print(f"Written to {args.output}")


def _losses(args: argparse.Namespace) -> list[str]:
    """The ``segeval loss`` section (its Markdown lines)."""
    images = 2 if args.quick else args.loss_images
    print(f"segeval loss on {images} Cityscapes-sized logit maps ...", flush=True)
    results = loss_bench.measure_all(images, args.jobs)
    for result in results:
        if result["kind"] == "segeval-set" and result["jobs"] == args.jobs:
            CAPABILITIES["losses"] = {"cpu_per_image": result["cpu_seconds"] / images}
    return loss_bench.section(results, images)


#: Figures of the capability sections (boundary metrics, Dask, losses) that the
#: Targets and capabilities tables show against plain score.
CAPABILITIES: dict[str, dict[str, float]] = {}


def replace_section(document: str, lines: list[str]) -> str:
    """``document`` with the section titled like ``lines[0]`` replaced (or appended).

    Examples
    --------
    >>> replace_section("# P\n\n## A\nold\n\n## B\nb\n", ["## A", "new", ""])
    '# P\n\n## A\nnew\n\n## B\nb\n'
    """
    title = lines[0] + "\n"
    text = "\n".join(lines)
    start = document.find(title)
    if start < 0:
        return document.rstrip("\n") + "\n\n" + text
    end = document.find("\n## ", start + len(title))
    rest = "" if end < 0 else document[end + 1 :]
    return document[:start] + text + ("\n" + rest if rest else "")


BOUNDARY_TITLE = "## Boundary metrics"


def _boundary_core(city: Path, pairs: int, rounds: int) -> dict[str, float]:
    """The boundary-core worker, best of ``rounds`` for every stage."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", "boundary-core", str(city / "pred"),
             str(city / "gt"), "--limit", str(pairs), "--classes", "19"],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        best = {key: min(value, best.get(key, value)) for key, value in result.items()}
    return best


def boundary_section(city: Path, args: argparse.Namespace) -> str:
    """Boundary metrics: their cost against plain scoring and against the obvious ways.

    End to end on a subset with one worker (CPU time), alternating plain score,
    --boundary and --surface-distances; then each metric alone on decoded pairs,
    one thread, against the per-class implementations people write today, with
    the results checked equal inside the worker.
    """
    subset = linked_subset(city, args.boundary_pairs)
    print(f"Boundary metrics: {args.boundary_pairs} pairs end to end ...", flush=True)
    runs: dict[str, list[Measurement]] = {mode: [] for mode in BOUNDARY_MODES}
    for _ in range(args.rounds):
        for mode in BOUNDARY_MODES:
            runs[mode].append(measure(mode, subset, jobs=1, classes=19))
    cpu = {
        mode: min(m.cpu_seconds for m in found) / args.boundary_pairs
        for mode, found in runs.items()
    }
    print(f"Boundary metrics: {args.boundary_core_pairs} pairs, each metric alone ...", flush=True)
    core = _boundary_core(city, args.boundary_core_pairs, args.rounds)
    per_pair = {
        key: 1000 * value / core["pairs"]
        for key, value in core.items()
        if key not in ("pairs", "width", "theta")
    }
    plain = 1000 * cpu["segeval"]
    score_rows = [
        "| run (one worker) | CPU ms/pair | x plain score |",
        "|---|--:|--:|",
        *(
            f"| {title} | {1000 * cpu[mode]:.1f} | {cpu[mode] / cpu['segeval']:.2f} |"
            for mode, title in BOUNDARY_MODES.items()
        ),
    ]
    comparisons = [
        ("Boundary IoU (both maps' bands, counts)", "biou", "per-class erosion, the authors' "
         "`mask_to_boundary` per class (OpenCV)", "biou_obvious"),
        ("boundary F1 counts", "bf", "per-class distance transform of each boundary "
         "(OpenCV `DIST_MASK_PRECISE`, cropped to the class)", "bf_obvious"),
        ("surface distances (HD, HD95, ASSD, NSD)", "surface", "MONAI-style: per class, crop "
         "to the union, edges, SciPy exact EDT", "surface_monai"),
        ("surface distances (HD, HD95, ASSD, NSD)", "surface", "the same with OpenCV's EDT "
         "(float32, 2-D only)", "surface_monai_opencv"),
    ]  # fmt: skip
    core_rows = [
        "| metric | segeval, ms/pair | x plain score | obvious implementation | ms/pair | "
        "segeval is faster by |",
        "|---|--:|--:|---|--:|--:|",
        *(
            f"| {title} | {per_pair[ours]:.1f} | {per_pair[ours] / plain:.2f} | {what} | "
            f"{per_pair[other]:.1f} | {per_pair[other] / per_pair[ours]:.1f} x |"
            for title, ours, what, other in comparisons
        ),
    ]
    biou_ratio = per_pair["biou"] / plain
    bf_gain = per_pair["bf_obvious"] / per_pair["bf"]
    surface_gain = per_pair["surface_monai"] / per_pair["surface"]
    CAPABILITIES["boundary"] = {
        "score --boundary": cpu["segeval-boundary"] / cpu["segeval"],
        "score --surface-distances": cpu["segeval-surface"] / cpu["segeval"],
        "biou_ratio": biou_ratio,
    }
    targets = [
        "| target | measured | |",
        "|---|--:|---|",
        f"| Boundary IoU at most 3 x plain score | {biou_ratio:.2f} x | "
        f"{_check(biou_ratio <= 3)} |",
        f"| BF at least 5 x faster than a per-class distance transform | {bf_gain:.1f} x | "
        f"{_check(bf_gain >= 5)} |",
        f"| surface distances at least 5 x faster than MONAI-style EDT | {surface_gain:.1f} x | "
        f"{_check(surface_gain >= 5)} |",
    ]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    points = per_pair["points"] - per_pair["codes"]
    return "\n".join(
        [
            BOUNDARY_TITLE,
            "",
            f"Measured on {stamp} (`python -m benchmarks.run --only boundary` reruns this "
            "section alone). CPU time, best of "
            f"{args.rounds} runs: on a shared machine other jobs inflate wall time far more than "
            f"CPU time. Cityscapes-like pairs (2048 x 1024, 19 classes + 255): band d = "
            f"{int(core['width'])} px (ratio 0.02), BF tolerance {core['theta']:.2f} px (0.75 % of "
            "the diagonal), NSD tolerance 2 px.",
            "",
            f"End to end, {args.boundary_pairs} pairs, `segeval score` with one worker (decode, "
            "count, and the boundary metrics asked for):",
            "",
            *score_rows,
            "",
            f"Each metric alone on {int(core['pairs'])} pairs decoded beforehand, one thread, "
            "both maps prepared per pair (as `score` does; `batch` prepares the ground truth "
            "once for all submissions), against the obvious implementation on the same pairs "
            "in the same run; every result is checked equal to the obvious one (distances to "
            "1e-12). x plain score divides by the end-to-end plain score above.",
            "",
            *core_rows,
            "",
            "Targets (issue 13):",
            "",
            *targets,
            "",
            "Where segeval's time goes, per pair: class codes of both maps "
            f"{per_pair['codes']:.1f} ms; every class's band of both maps (one erode and one "
            f"dilate with a {2 * int(core['width']) + 1}-pixel square) "
            f"{per_pair['bands'] - per_pair['codes']:.1f} ms, the rest of Boundary IoU being one "
            "joint histogram of the two band-keyed maps; every class's boundary points of both "
            f"maps (one pass over label changes, grouped by class) {points:.1f} ms, shared by BF "
            "and the surface distances; BF's matching (offsets up to radius 4 for all classes "
            "at once, then KD-trees bounded by the tolerance) and the surface distances' "
            "nearest neighbours (KD-trees, exact) the rest. The obvious implementations pay one "
            "full-image pass (or a distance transform of the class's bounding box) per class "
            "and per map. Plain confusion counting of the same decoded pairs: "
            f"{per_pair['count']:.1f} ms. Without OpenCV (the `boundary` extra's optional "
            "part) the bands come from SciPy's minimum and maximum filters: "
            f"{per_pair['bands_scipy']:.1f} ms per pair against {per_pair['bands_opencv']:.1f} "
            "ms with OpenCV's erode and dilate, the same pixels.",
            "",
        ]
    )


BOUNDARY_MODES = {
    "segeval": "plain score",
    "segeval-boundary": "score --boundary (Boundary IoU + BF)",
    "segeval-surface": "score --surface-distances (HD, HD95, ASSD, NSD)",
}


def _cityscapes_baseline(city: Path, limit: int) -> Measurement | None:
    """The official evaluator, when benchmarks/cityscapes_baseline has set up its venv."""
    script = REPO / "benchmarks" / "cityscapes_baseline" / "run.py"
    python = CACHE / "cityscapes-venv" / "bin" / "python"
    if not (script.exists() and python.exists()):
        return None
    print(f"Baseline: official Cityscapes evaluator on {limit} pairs ...", flush=True)
    completed = subprocess.run(
        [str(python), str(script), str(city), "--limit", str(limit)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        print(f"  skipped: {completed.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    OFFICIAL_BUILD[0] = str(result.get("extension") or "none")
    return Measurement(result["seconds"], result["pairs"], result["pixels"], 0)


# Which counting extension the official evaluator ran with ("official" or "compat").
OFFICIAL_BUILD = ["none"]


def _capability_rows(plain: Measurement) -> list[str]:
    """Rows of the capabilities measured in their own sections, against plain score."""
    rows = []
    boundary = CAPABILITIES.get("boundary")
    if boundary:
        rows += [
            f"| `{name}` (1 worker, CPU time; section below) | | | {boundary[name]:.2f} |"
            for name in ("score --boundary", "score --surface-distances")
        ]
    dask = CAPABILITIES.get("dask")
    if dask:
        rows.append(
            f"| `score --scheduler` on a local Dask cluster, 2 workers (wall; CPU "
            f"{dask['cpu']:.2f} x; section below) | | | {dask['wall']:.2f} |"
        )
    losses = CAPABILITIES.get("losses")
    if losses and plain.cpu_seconds:
        per_pair = plain.cpu_seconds / plain.pairs
        rows.append(
            "| `segeval loss`, every term, per 19 x 1024 x 2048 logit map against a label pair "
            f"(CPU time; section below) | {1000 * losses['cpu_per_image']:.0f} | | "
            f"{losses['cpu_per_image'] / per_pair:.1f} |"
        )
    return rows


def _capability_checks() -> list[tuple[str, str, bool]]:
    """The aims the capability sections set themselves, in the one Targets table."""
    checks: list[tuple[str, str, bool]] = []
    boundary = CAPABILITIES.get("boundary")
    if boundary:
        ratio = boundary["biou_ratio"]
        checks.append(
            ("Boundary IoU at most 3 x plain score (section below)", f"{ratio:.2f} x", ratio <= 3)
        )
    dask = CAPABILITIES.get("dask")
    if dask:
        checks.append(
            (
                "a local Dask cluster within 1.15 x the thread engine (section below)",
                f"{dask['wall']:.2f} x (CPU {dask['cpu']:.2f} x)",
                dask["wall"] < 1.15,
            )
        )
    return checks


def _load(averages: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.1f}" for value in averages)


def _round_ratios(folder: str, jobs: int, mode: str) -> str:
    """`` (rounds: 1.08-1.14)``: the range of the per-round ratios to the floor."""
    for (name, workers, measured), ratios in ROUND_RATIOS.items():
        if name.startswith(folder) and workers == jobs and measured == mode:
            return f" (rounds: {min(ratios):.2f}-{max(ratios):.2f})"
    return ""


def _check(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _row(name: str, m: Measurement, floor: Measurement | None = None) -> str:
    ratio = f"{m.seconds / floor.seconds:.3f}" if floor else ""
    rss = f"{m.peak_rss / 2**20:.0f} MiB" if m.peak_rss else ""
    spread = f"{m.spread[1]:.2f}-{m.spread[0]:.2f}" if m.spread else ""
    return (
        f"| {name} | {m.pairs} | {m.ms_per_pair:.2f} | {spread} | {m.pairs_per_second:.1f} | "
        f"{m.megapixels_per_second:.0f} | {ratio} | {rss} |"
    )


BASELINE_TITLES = {
    "sklearn": "Pillow + sklearn.metrics.confusion_matrix per image",
    "numpy": "Pillow + masked np.bincount per image (typical hand-written loop)",
    "torchmetrics": "Pillow + torchmetrics MulticlassConfusionMatrix (default validation)",
    "official": "cityscapesScripts 2.3.0 evaluator, compiled extension, no instance scores",
}


def bootstrap_section(bootstrap: list[tuple[str, float, float]], rounds: int) -> list[str]:
    """The bootstrap's timing table (its Markdown lines, ending with a blank one)."""
    return [
        "## Bootstrap confidence intervals",
        "",
        "What `score --ci` and `compare --ci` add after scoring: 2,000 resamples of 500 images "
        "x 19 classes (synthetic Cityscapes-sized per-image counts, "
        "`benchmarks/bootstrap_bench.py`), "
        "every dataset-level metric and per-class IoU and Dice, in one process, best of "
        f"{rounds} runs.",
        "",
        "| case | seconds | all runs |",
        "|---|--:|--:|",
        *(f"| {label} | {best:.3f} | {best:.3f}-{worst:.3f} |" for label, best, worst in bootstrap),
        "",
    ]


def render(
    args: argparse.Namespace,
    city_floor: Measurement,
    city_segeval: Measurement,
    city_single_floor: Measurement,
    city_single: Measurement,
    ade_floor: Measurement,
    ade_segeval: Measurement,
    baselines: dict[str, Measurement | None],
    memory: dict[int, Measurement],
    official: Measurement | None,
    batch_result: tuple[Measurement, float],
    counting: dict[tuple[str, str], Measurement],
    decoders: dict[str, tuple[Measurement | None, Measurement | None]],
    ade_single_floor: Measurement,
    bootstrap: list[tuple[str, float, float]],
    *,
    startups: dict[str, list[float]],
    capabilities: list[tuple[str, Measurement]],
    per_image: Measurement,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> str:
    """The Markdown report (docs/performance.md)."""
    jobs = args.jobs
    throughput = [
        "| run | pairs | ms/pair | all runs, ms/pair | pairs/s | MPix/s | / floor | peak RSS |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
        _row(f"Cityscapes-like: decode floor, {jobs} workers", city_floor),
        _row(f"Cityscapes-like: segeval, {jobs} workers", city_segeval, city_floor),
        _row(f"Cityscapes-like: segeval --per-image, {jobs} workers", per_image, city_floor),
        _row("Cityscapes-like: decode floor, 1 worker", city_single_floor),
        _row("Cityscapes-like: segeval, --jobs 1", city_single, city_single_floor),
        _row(f"ADE20K-like (150 classes): decode floor, {jobs} workers", ade_floor),
        _row(f"ADE20K-like (150 classes): segeval, {jobs} workers", ade_segeval, ade_floor),
    ]
    measured = dict(baselines, official=official)
    speedups = ["| baseline (Cityscapes-like) | ms/pair | segeval is faster by |", "|---|--:|--:|"]
    for mode, title in BASELINE_TITLES.items():
        baseline = measured.get(mode)
        if baseline is None:
            reason = (
                "not set up (benchmarks/cityscapes_baseline)"
                if mode == "official"
                else ("not installed")
            )
            speedups.append(f"| {title} | {reason} | |")
        else:
            factor = baseline.ms_per_pair / city_segeval.ms_per_pair
            speedups.append(f"| {title} | {baseline.ms_per_pair:.1f} | {factor:.1f} x |")

    small, large = (memory[count] for count in sorted(memory))
    growth = large.peak_rss / small.peak_rss
    checks = []
    for title, run, floor, folder, mode, aim in (
        ("Cityscapes-like end to end", city_segeval, city_floor, "cityscapes", "segeval", 1.10),
        (
            "Cityscapes-like with `--per-image`",
            per_image,
            city_floor,
            "cityscapes",
            "segeval-per-image",
            1.15,
        ),
        ("ADE20K-like (150 classes) end to end", ade_segeval, ade_floor, "ade20k", "segeval", 1.2),
    ):
        ratio = run.seconds / floor.seconds
        checks.append(
            (
                f"{title} within {aim:.2f} x the decode floor ({jobs} workers, best of each)",
                f"{ratio:.3f} x{_round_ratios(folder, jobs, mode)}",
                ratio <= aim,
            )
        )
    bare = min(startups["python -c pass"])
    for name in STARTUP_TARGETS:
        extra = 1000 * (min(startups[name]) - bare)
        checks.append(
            (f"`{name}` within 150 ms of `python -c pass`", f"+{extra:.0f} ms", extra <= 150)
        )
    for mode, factor, title in (
        ("sklearn", 8, "the scikit-learn loop"),
        ("torchmetrics", 8, "torchmetrics (default validation)"),
        ("official", 3, "the official Cityscapes evaluator"),
    ):
        baseline = measured.get(mode)
        if baseline is not None:
            value = baseline.ms_per_pair / city_segeval.ms_per_pair
            checks.append(
                (f"at least {factor} x faster than {title}", f"{value:.1f} x", value >= factor)
            )
    checks += [
        (
            f"peak RSS under 300 MB at {large.pairs} pairs",
            f"{large.peak_rss / 1e6:.0f} MB",
            large.peak_rss < 300e6,
        ),
        (
            f"peak RSS at {large.pairs} pairs within 10 % of {small.pairs} pairs",
            f"{growth:.3f} x",
            growth <= 1.10,
        ),
    ]
    bootstrap_best = bootstrap[0][1]
    checks.append(
        (
            "2,000 bootstrap resamples of 500 images x 19 classes under 2 s",
            f"{bootstrap_best:.2f} s",
            bootstrap_best < 2,
        )
    )
    batch, separate = batch_result
    speedup = separate / batch.seconds
    n = args.submissions
    # Separate runs decode 2N masks per image, a batch N + 1: the ideal speed-up.
    ideal = 2 * n / (n + 1)
    # Both still count N pairs per image: with one mask's decode d and one pair's
    # count c (one worker, measured above), the best a batch can do is
    # N (2d + c) / ((N + 1) d + N c), below the ideal by the share of counting.
    decode_one = city_single_floor.ms_per_pair / 2
    count_one = counting["Cityscapes-like", "count-pairs"].ms_per_pair
    bound = n * (2 * decode_one + count_one) / ((n + 1) * decode_one + n * count_one)
    batching = [
        "| run | seconds | |",
        "|---|--:|--:|",
        f"| {n} separate `score` runs, one per submission | {separate:.2f} | |",
        f"| one `segeval batch` of the {n} submissions | {batch.seconds:.2f} | "
        f"{speedup:.2f} x faster (ideal {ideal:.2f} x; {bound:.2f} x with counting) |",
        "",
        f"The ideal 2N/(N+1) counts decodes only. Batch and separate runs both count "
        f"{n} pairs per image: with a mask's decode at {decode_one:.2f} ms and a pair's count "
        f"at {count_one:.2f} ms (one worker, above), the most a batch can gain is "
        f"N (2d + c) / ((N + 1) d + N c) = {bound:.2f} x. A test counts the decodes "
        "(tests/test_batch.py: N + 1 per image).",
    ]
    checks.append(
        (
            f"batch of {n} ({n + 1} decodes per image): speed-up over separate runs printed "
            f"next to its ideal 2N/(N+1) = {ideal:.2f} x",
            f"{speedup:.2f} x ({speedup / ideal:.0%} of ideal)",
            True,
        )
    )
    checks.append(
        (
            f"batch of {n}: at least 90 % of the best its decodes and counting allow "
            f"({bound:.2f} x; 90 % of 2N/(N+1) = {0.9 * ideal:.2f} x is above that bound)"
            if 0.9 * ideal > bound
            else f"batch of {n}: at least 90 % of the best its decodes and counting allow "
            f"({bound:.2f} x)",
            f"{speedup:.2f} x ({speedup / bound:.0%})",
            speedup >= 0.9 * bound,
        )
    )
    plain = city_segeval
    capability_rows = [
        "| capability (Cityscapes-like set) | ms/pair | all runs, ms/pair | / plain `score` |",
        "|---|--:|--:|--:|",
        f"| plain `score` | {plain.ms_per_pair:.2f} | "
        f"{plain.spread[1]:.2f}-{plain.spread[0]:.2f} | 1.00 |"
        if plain.spread
        else "",
    ]
    for name, measured in capabilities:
        spread = f"{measured.spread[1]:.2f}-{measured.spread[0]:.2f}" if measured.spread else ""
        capability_rows.append(
            f"| {name} | {measured.ms_per_pair:.2f} | {spread} | "
            f"{measured.seconds / plain.seconds:.2f} |"
        )
    capability_rows += _capability_rows(plain)
    checks += _capability_checks()
    targets = ["| target | measured | |", "|---|--:|---|"]
    targets += [f"| {name} | {value} | {_check(ok)} |" for name, value, ok in checks]
    startup_rows = [
        "| command | best, ms | median, ms | above `python -c pass` (best) |",
        "|---|--:|--:|--:|",
        *(
            f"| `{name}` | {1000 * min(times):.0f} | {1000 * statistics.median(times):.0f} | "
            f"{1000 * (min(times) - bare):+.0f} |"
            for name, times in startups.items()
        ),
    ]
    if official is not None:
        speedups.append(
            f"\nThe official evaluator ran with its `{OFFICIAL_BUILD[0]}` counting extension "
            "(benchmarks/cityscapes_baseline/README.md); one process: it has no parallel mode."
        )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Performance",
            "",
            "Regenerated by `make bench` (`benchmarks/run.py`); every number below was measured",
            f"in one run, on {stamp}. Do not edit by hand.",
            "",
            f"Machine: {machine()}.",
            "",
            f"Load average (1, 5, 15 min) when the run began: {_load(load[0])}; when it "
            f"ended: {_load(load[1])}. On a shared machine other work only adds time, so "
            "each figure is a best run; the targets also show the range of the per-round "
            "ratios (each run over the floor measured in the same round).",
            "",
            f"Sets (generated once, cached in `benchmarks/.cache`): Cityscapes-like, {args.pairs} "
            "pairs of 2048 x 1024 8-bit label PNGs, 19 classes + 255, street-scene regions with "
            "warped boundaries, predictions with boundary shifts and wrong blobs (32-46 KiB per "
            f"file); ADE20K-like, {args.ade_pairs} pairs of 512 x 512, 150 classes. Each figure is "
            f"the best of {args.rounds} runs, each in a fresh process (interference from the rest "
            "of the machine only adds time); segeval and its floor "
            "alternate. The *decode floor* reads both masks of every pair with the same decoder, "
            "chunks and worker threads as segeval (its own engine) and does nothing else. "
            "`score` runs its workers as threads; `batch` as processes, to isolate crashes of "
            "untrusted input. Baselines run in one process "
            f"on the first {args.baseline_pairs} pairs. Peak RSS is the sum over the process and "
            "its workers, sampled every 10 ms.",
            "",
            "## Throughput",
            "",
            *throughput,
            "",
            "## Against other ways of computing the same matrix",
            "",
            *speedups,
            "",
            "## Targets",
            "",
            *targets,
            "",
            "## Start-up",
            "",
            f"Each command in a fresh process, {len(startups['python -c pass'])} times, "
            "interleaved, after a warm-up round (bytecode and file caches warm, as after "
            "installing). A one-pair `score` writes JSON: on a 64 x 64 pair its time is "
            "start-up alone (the target); on a Cityscapes-size pair it also decodes and "
            "counts 2 x 2 MPix. The `import numpy, imagecodecs, click, json` row is what no "
            "`score` can avoid: the rest above it is segeval's own modules and work. "
            "`segeval --version` imports click alone; `score` imports the modules it runs "
            "(numpy, the decoder, counting, the report and its renderer) and no other "
            "command's or option's (tests/test_package.py lists them).",
            "",
            *startup_rows,
            "",
            "## Capabilities beside plain score",
            "",
            "Each against plain `score` on the same set and workers, measured in the same rounds.",
            "",
            *[row for row in capability_rows if row],
            "",
            "## PNG decoders on label maps",
            "",
            "Each decoder alone, one thread, decoding files already read into memory (ms per "
            "image, best of the rounds). segeval uses imagecodecs when installed "
            "(`segeval[fast]`), else Pillow; pyspng and OpenCV are measured only to choose.",
            "",
            "| decoder | 2048 x 1024 (Cityscapes-like) | 512 x 512 (ADE20K-like) |",
            "|---|--:|--:|",
            *(
                f"| {name} | "
                + (
                    " | ".join(f"{m.ms_per_pair:.2f}" for m in pair)
                    if pair[0]
                    else "not installed | "
                )
                + " |"
                for name, pair in decoders.items()
            ),
            "",
            "## Where the time goes",
            "",
            "Counting alone on masks decoded beforehand, one thread: as `score` counts (with "
            "many classes a chunk of 16 uint8 pairs is summed into one raw 65536-bin "
            "histogram and folded through the label tables once; with few, each pair is "
            "folded, which costs less than the large table), and pair by pair "
            "(`ConfusionMatrix.update`), against the single-worker decode floor of the same "
            "set:",
            "",
            "| set | counting as `score` does, ms/pair | pair by pair, ms/pair "
            "| decode floor (1 worker), ms/pair |",
            "|---|--:|--:|--:|",
            f"| Cityscapes-like | {counting['Cityscapes-like', 'count'].ms_per_pair:.2f} | "
            f"{counting['Cityscapes-like', 'count-pairs'].ms_per_pair:.2f} | "
            f"{city_single_floor.ms_per_pair:.2f} |",
            f"| ADE20K-like | {counting['ADE20K-like', 'count'].ms_per_pair:.2f} | "
            f"{counting['ADE20K-like', 'count-pairs'].ms_per_pair:.2f} | "
            f"{ade_single_floor.ms_per_pair:.2f} |",
            "",
            "Counting finds the runs of equal (ground truth, prediction) along the pixels and "
            "bins one value per run, so its cost follows the pixels (two comparisons and a "
            "`flatnonzero` over every pixel) rather than the classes. With several workers, "
            "decoding and counting share the cores' caches and memory bandwidth, so the "
            "multi-worker ratio is higher than the single-worker one.",
            "",
            "## Batch scoring: each ground-truth mask decoded once",
            "",
            f"{args.submissions} submissions of the Cityscapes-like set against its ground truth, "
            f"{args.jobs} workers. Separate runs decode every ground-truth mask once per "
            "submission; `batch` decodes it once for all of them.",
            "",
            *batching,
            "",
            *bootstrap_section(bootstrap, args.rounds),
            "## Memory against dataset size",
            "",
            "| pairs | peak RSS (process tree) |",
            "|--:|--:|",
            *(f"| {m.pairs} | {m.peak_rss / 2**20:.0f} MiB |" for m in (small, large)),
            "",
        ]
    )


if __name__ == "__main__":
    main()
