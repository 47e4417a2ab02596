"""Choose images worth looking at, and draw them small, for the HTML reports.

Choosing is bounded: :class:`WorstImages` is an :class:`~segeval.run.evaluate.ImageSink`
that keeps the K lowest-scoring images in a heap of size K while the per-image
rows stream past, and :class:`ScoreHistogram` counts scores into fixed bins, so
neither grows with the dataset. Drawing happens afterwards and only for the
chosen images: :func:`score_gallery` re-reads those K pairs (cheap and bounded)
and encodes ground truth, prediction and error map as small PNG thumbnails, with
the matching photo underneath when an images folder pairs one.

:func:`changed_images` does the same for two prediction folders of one ground
truth: both are counted image by image in one pass (each ground-truth mask is
decoded once), the K images whose per-image mIoU changed most are kept in a
heap, and only they are drawn.

Thumbnails are downscaled by nearest-neighbour sampling (labels are never
blended); every count shown beside them is from the full-resolution masks.
"""

from __future__ import annotations

import heapq
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from segeval.core.confusion import ConfusionMatrix
from segeval.core.labels import LabelMapping
from segeval.core.metrics import MetricOptions, compute_metrics
from segeval.core.per_image import ImageResult
from segeval.defaults import DEFAULT_WORST
from segeval.errors import SegevalError, UsageError
from segeval.gallery import ERROR_TITLES, Gallery, ImagePanel, ScoreDistribution, Thumbnail
from segeval.inputs.classes import load_class_definition, load_preset
from segeval.inputs.pairing import MaskPair, pair_folders
from segeval.io import DEFAULT_MAX_MASK_BYTES, DEFAULT_MAX_PIXELS, read_regular_file
from segeval.io.image import check_pixel_limit
from segeval.io.resize import resize_nearest
from segeval.io.storage import Location, RemotePath, location
from segeval.palettes import ERROR_COLORS, RGB, class_palette
from segeval.report import Report, ScoreConfig
from segeval.run.engine import ThreadExecutor, WorkerCrash, chunked, default_jobs
from segeval.run.evaluate import ImageSink
from segeval.run.options import Execution, ScoreOptions
from segeval.run.work import ImageTask, Work, count_tasks
from segeval.wording import counted

__all__ = [
    "DEFAULT_THUMBNAIL_SIZE",
    "DEFAULT_WORST",
    "PHOTO_SUFFIXES",
    "ImageSinks",
    "RankedImage",
    "ScoreHistogram",
    "WorstImages",
    "changed_from_counts",
    "changed_images",
    "class_colors",
    "find_photo",
    "options_from_config",
    "score_gallery",
]

#: Longest side of a thumbnail, in pixels.
DEFAULT_THUMBNAIL_SIZE = 240
#: Photo files an images folder may hold, tried in this order.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: How much a correct pixel's class colour is faded towards white in an error map.
_FADE = 0.7
#: Mix-ups listed under each image.
_TOP_CONFUSIONS = 3


@dataclass(frozen=True, order=True)
class RankedImage:
    """One image's place in a ranking: its score and what is shown with it."""

    score: float
    key: str = field(compare=False)
    values: Mapping[str, float] = field(compare=False, default_factory=dict)


class WorstImages:
    """The K images with the lowest per-image mIoU, kept in a bounded heap.

    An :class:`~segeval.run.evaluate.ImageSink`: feed it every per-image row and
    it holds at most K of them (ties keep the earlier image, in pairing order).
    Images with an undefined mIoU (nothing scored in them) are counted but not
    ranked.

    Parameters
    ----------
    k : int
        How many to keep (0 keeps none).

    Examples
    --------
    >>> worst = WorstImages(2)
    >>> worst.begin(["road", "car"])
    >>> for key, miou in [("a", 0.9), ("b", 0.2), ("c", 0.5), ("d", 0.1)]:
    ...     worst.write(ImageResult(key, np.array([miou]), np.array([miou]), miou, miou, miou, 9))
    >>> [(image.key, image.score) for image in worst.ranked()], worst.seen
    ([('d', 0.1), ('b', 0.2)], 4)
    """

    def __init__(self, k: int) -> None:
        if k < 0:
            raise UsageError(f"the number of worst images must be 0 or more, got {k}.")
        self.k = k
        self.seen = 0
        self.undefined = 0
        # Max-heap by score through negation; the order number keeps ties stable.
        self._heap: list[tuple[float, int, RankedImage]] = []

    def begin(self, class_names: Sequence[str]) -> None:
        """Start (or restart) a run."""
        self._heap.clear()
        self.seen = self.undefined = 0

    def write(self, result: ImageResult) -> None:
        """Consider one image."""
        self.seen += 1
        if math.isnan(result.miou):
            self.undefined += 1
            return
        if self.k == 0:
            return
        entry = RankedImage(
            result.miou,
            result.key,
            {"mIoU": result.miou, "pixel accuracy": result.pixel_accuracy},
        )
        item = (-result.miou, -self.seen, entry)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def __len__(self) -> int:
        return len(self._heap)

    def ranked(self) -> list[RankedImage]:
        """The kept images, worst first."""
        return [entry for _, _, entry in sorted(self._heap, key=lambda item: (-item[0], -item[1]))]


class ScoreHistogram:
    """Per-image mIoU counted into fixed bins over [0, 1] (an ImageSink).

    Examples
    --------
    >>> histogram = ScoreHistogram(bins=4)
    >>> for miou in (0.1, 0.3, 0.3, 1.0, float("nan")):
    ...     histogram.write(ImageResult("x", np.array([]), np.array([]), miou, miou, miou, 1))
    >>> histogram.distribution().counts, histogram.distribution().undefined
    ((1, 2, 0, 1), 1)
    """

    def __init__(self, bins: int = 20) -> None:
        self.counts = np.zeros(bins, dtype=np.int64)
        self.undefined = 0

    def begin(self, class_names: Sequence[str]) -> None:
        """Start (or restart) a run."""
        self.counts[:] = 0
        self.undefined = 0

    def write(self, result: ImageResult) -> None:
        """Count one image."""
        if math.isnan(result.miou):
            self.undefined += 1
            return
        bins = self.counts.shape[0]
        self.counts[min(bins - 1, max(0, int(result.miou * bins)))] += 1

    def distribution(self) -> ScoreDistribution:
        """The histogram as a result type."""
        bins = self.counts.shape[0]
        return ScoreDistribution(
            metric="per-image mIoU",
            edges=tuple(index / bins for index in range(bins + 1)),
            counts=tuple(int(count) for count in self.counts),
            undefined=self.undefined,
        )


class ImageSinks:
    """Several image sinks fed from one run (the per-image file, the worst images...).

    Examples
    --------
    >>> worst, histogram = WorstImages(1), ScoreHistogram()
    >>> both = ImageSinks([worst, histogram])
    >>> both.begin(["a"])
    >>> both.write(ImageResult("x", np.array([0.5]), np.array([0.5]), 0.5, 0.5, 0.5, 4))
    >>> len(worst), int(histogram.counts.sum())
    (1, 1)
    """

    def __init__(self, sinks: Sequence[ImageSink]) -> None:
        self._sinks = list(sinks)

    def begin(self, class_names: Sequence[str]) -> None:
        """Pass the class names on to every sink."""
        for sink in self._sinks:
            sink.begin(class_names)

    def write(self, result: ImageResult) -> None:
        """Pass one row on to every sink."""
        for sink in self._sinks:
            sink.write(result)


# ------------------------------------------------------------------ drawing


def class_colors(options: ScoreOptions, num_classes: int) -> tuple[tuple[RGB, ...], str]:
    """Class colours of a run: the class definition's, the rest generated.

    Returns
    -------
    colors : tuple of RGB
    source : str
        Where they came from, for the report.

    Examples
    --------
    >>> from segeval.inputs.classes import load_preset
    >>> colors, source = class_colors(ScoreOptions(classes=load_preset("camvid")), 11)
    >>> colors[0], source
    ((128, 128, 128), 'class colours of preset camvid')
    """
    definition = options.classes
    known: dict[int, RGB] = {}
    if definition is not None:
        known = {
            index: (int(color[0]), int(color[1]), int(color[2]))
            for color, index in definition.class_colors.items()
            if index < num_classes
        }
    palette = class_palette(num_classes, known)
    if definition is None or not known:
        return palette, "generated colour-blind-friendly palette (no class colours given)"
    if len(known) == num_classes:
        return palette, f"class colours of {definition.source}"
    return palette, (
        f"class colours of {definition.source} ({len(known)} of {num_classes}), the rest generated"
    )


def find_photo(images_dir: Path, key: str) -> Path | None:
    """The photo of an image key: same relative path, any of :data:`PHOTO_SUFFIXES`.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.jpg").write_bytes(b"")
    >>> find_photo(root, "a").name, find_photo(root, "b")
    ('a.jpg', None)
    """
    for suffix in PHOTO_SUFFIXES:
        for candidate in (images_dir / f"{key}{suffix}", images_dir / f"{key}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _thumbnail_shape(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    height, width = int(shape[0]), int(shape[1])
    scale = min(1.0, max_side / max(height, width, 1))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _encode_png(codes: np.ndarray, palette: np.ndarray) -> bytes:
    """A code image through its palette: a palette PNG when it fits, else RGB."""
    buffer = io.BytesIO()
    if palette.shape[0] <= 256:
        image = Image.fromarray(codes.astype(np.uint8), mode="P")
        image.putpalette(palette.astype(np.uint8).ravel().tolist())
        image.save(buffer, format="PNG", optimize=True)
    else:
        Image.fromarray(palette[codes].astype(np.uint8), mode="RGB").save(
            buffer, format="PNG", optimize=True
        )
    return buffer.getvalue()


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), mode="RGB").save(buffer, format="JPEG", quality=82)
    return buffer.getvalue()


@dataclass(frozen=True)
class _Painter:
    """Codes -> thumbnails, for one run's classes and colours."""

    num_classes: int
    colors: tuple[RGB, ...]
    class_names: tuple[str, ...]
    max_side: int

    @property
    def label_palette(self) -> np.ndarray:
        # Classes, then ignore and out-of-range codes (both drawn as "no class").
        black = [ERROR_COLORS["ignored"]] * 2
        return np.array([*self.colors, *black], dtype=np.int64)

    @property
    def error_palette(self) -> np.ndarray:
        faded = [
            tuple(round(channel + (255 - channel) * _FADE) for channel in color)
            for color in self.colors
        ]
        extra = [ERROR_COLORS[name] for name in ("wrong", "pred_ignore", "ignored")]
        return np.array([*faded, *extra], dtype=np.int64)

    def error_codes(self, gt_codes: np.ndarray, pred_codes: np.ndarray) -> np.ndarray:
        """Per pixel: its class when correct, else C (wrong), C+1 (no class), C+2 (ignored)."""
        classes = self.num_classes
        codes = np.where(gt_codes == pred_codes, gt_codes, classes).astype(np.int64)
        codes[pred_codes >= classes] = classes + 1
        codes[gt_codes >= classes] = classes + 2
        return codes

    def counts(self, error_codes: np.ndarray) -> dict[str, int]:
        classes = self.num_classes
        return {
            "correct": int(np.count_nonzero(error_codes < classes)),
            "wrong": int(np.count_nonzero(error_codes == classes)),
            "pred_ignore": int(np.count_nonzero(error_codes == classes + 1)),
            "ignored": int(np.count_nonzero(error_codes == classes + 2)),
        }

    def confusions(
        self, gt_codes: np.ndarray, pred_codes: np.ndarray
    ) -> tuple[tuple[str, str, int], ...]:
        classes = self.num_classes
        wrong = (gt_codes < classes) & (pred_codes < classes) & (gt_codes != pred_codes)
        if not wrong.any():
            return ()
        pairs = gt_codes[wrong].astype(np.int64) * classes + pred_codes[wrong]
        values, counts = np.unique(pairs, return_counts=True)
        order = np.argsort(-counts, kind="stable")[:_TOP_CONFUSIONS]
        return tuple(
            (
                self.class_names[int(values[i]) // classes],
                self.class_names[int(values[i]) % classes],
                int(counts[i]),
            )
            for i in order
        )

    def labels(self, codes: np.ndarray, title: str, description: str) -> Thumbnail:
        small = resize_nearest(codes, _thumbnail_shape(codes.shape, self.max_side))
        return Thumbnail(title, _encode_png(small, self.label_palette), description)

    def errors(self, error_codes: np.ndarray, title: str, counts: Mapping[str, int]) -> Thumbnail:
        small = resize_nearest(error_codes, _thumbnail_shape(error_codes.shape, self.max_side))
        scored = counts["correct"] + counts["wrong"] + counts["pred_ignore"]
        described = ", ".join(
            f"{ERROR_TITLES[name]} {_share(counts[name], scored)}"
            for name in ("correct", "wrong", "pred_ignore")
        )
        return Thumbnail(
            title, _encode_png(small, self.error_palette), f"Error map: {described} of scored"
        )

    def photos(self, path: Path, error_codes: np.ndarray) -> tuple[Thumbnail, Thumbnail]:
        """The photo, and the photo with wrong and missed pixels painted over it."""
        shape = _thumbnail_shape(error_codes.shape, self.max_side)
        # Opened like a mask: a regular file within the byte limit, pixels checked first.
        data = read_regular_file(path, max_bytes=DEFAULT_MAX_MASK_BYTES, error=SegevalError)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                check_pixel_limit(path, opened.width, opened.height, DEFAULT_MAX_PIXELS)
                photo = opened.convert("RGB").resize((shape[1], shape[0]), Image.Resampling.BOX)
        except SegevalError:
            raise
        except Exception as err:  # any decoder failure is the photo's verdict
            raise SegevalError(f"{path}: cannot read the photo ({err}).") from err
        rgb = np.asarray(photo, dtype=np.float64)
        small = resize_nearest(error_codes, shape)
        painted = rgb.copy()
        for code, name in ((self.num_classes, "wrong"), (self.num_classes + 1, "pred_ignore")):
            where = small == code
            painted[where] = 0.35 * painted[where] + 0.65 * np.array(ERROR_COLORS[name])
        painted[small == self.num_classes + 2] *= 0.5  # unlabelled: darkened
        return (
            Thumbnail("Photo", _encode_jpeg(rgb), f"Photo {path.name}", "image/jpeg"),
            Thumbnail(
                "Errors over the photo",
                _encode_jpeg(painted),
                "Photo with wrong-class pixels in vermillion and missed pixels in blue",
                "image/jpeg",
            ),
        )


def _share(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100.0 * part / whole:.1f}%"


@dataclass(frozen=True)
class _Rules:
    """Reading and mapping of one run, at its final class count."""

    options: ScoreOptions
    gt_mapping: LabelMapping
    pred_mapping: LabelMapping

    @classmethod
    def of(cls, options: ScoreOptions, num_classes: int) -> _Rules:
        gt_mapping, pred_mapping = options.mapping("gt"), options.mapping("pred")
        if gt_mapping.num_classes != num_classes:  # an inferred class count
            gt_mapping, pred_mapping = (
                gt_mapping.grown(num_classes),
                pred_mapping.grown(num_classes),
            )
        return cls(options, gt_mapping, pred_mapping)

    def codes(self, pair: MaskPair) -> tuple[np.ndarray, np.ndarray]:
        """Ground-truth and predicted codes (class, C = ignore, C + 1 = outside)."""
        gt_mask, pred_mask, _ = self.options.pair_reader().read(pair)
        gt_codes = self.gt_mapping.encode(gt_mask).astype(np.int64)
        if pred_mask is None:
            pred_codes = np.full(gt_codes.shape, self.gt_mapping.ignore_code, np.int64)
        else:
            pred_codes = self.pred_mapping.encode(pred_mask).astype(np.int64)
        return _worst_slice(gt_codes, pred_codes)


def _worst_slice(gt_codes: np.ndarray, pred_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A volume is drawn by its slice (along the last axis) with the most wrong voxels.

    Examples
    --------
    >>> gt = np.zeros((2, 2, 3), dtype=np.int64)
    >>> pred = gt.copy()
    >>> pred[0, :, 1] = 1
    >>> [codes.shape for codes in _worst_slice(gt, pred)], int(_worst_slice(gt, pred)[1].sum())
    ([(2, 2), (2, 2)], 2)
    """
    if gt_codes.ndim <= 2:
        return gt_codes, pred_codes
    while gt_codes.ndim > 2:
        wrong = (gt_codes != pred_codes).reshape(-1, gt_codes.shape[-1]).sum(axis=0)
        index = int(np.argmax(wrong))
        gt_codes, pred_codes = gt_codes[..., index], pred_codes[..., index]
    # Voxel axes (i, j) are x and y: drawn with x across and y down.
    return np.ascontiguousarray(gt_codes.T), np.ascontiguousarray(pred_codes.T)
    return gt_codes, pred_codes


def score_gallery(
    pred_dir: str | Path | RemotePath,
    gt_dir: str | Path | RemotePath,
    options: ScoreOptions,
    report: Report,
    worst: WorstImages,
    *,
    histogram: ScoreHistogram | None = None,
    images_dir: str | Path | None = None,
    max_side: int = DEFAULT_THUMBNAIL_SIZE,
) -> Gallery:
    """Draw the worst images of a finished score run.

    Parameters
    ----------
    pred_dir, gt_dir : str or path-like
        The folders that were scored.
    options : ScoreOptions
        The options they were scored with.
    report : Report
        The run's report (class count and names).
    worst : WorstImages
        The sink that saw the run's per-image rows.
    histogram : ScoreHistogram, optional
        The sink that counted the per-image scores.
    images_dir : str or path-like, optional
        Photos, paired by key (same relative path, a photo suffix).
    max_side : int
        Longest side of a thumbnail.

    Returns
    -------
    Gallery

    Examples
    --------
    >>> import tempfile
    >>> from segeval.run.evaluate import evaluate
    >>> root = Path(tempfile.mkdtemp())
    >>> for side, mask in [("gt", [[0, 1], [1, 1]]), ("pred", [[0, 1], [0, 1]])]:
    ...     (root / side).mkdir()
    ...     Image.fromarray(np.array(mask, dtype=np.uint8)).save(root / side / "a.png")
    >>> worst, options = WorstImages(12), ScoreOptions(num_classes=2)
    >>> report = evaluate(root / "pred", root / "gt", options, image_sink=worst)
    >>> gallery = score_gallery(root / "pred", root / "gt", options, report, worst)
    >>> panel = gallery.panels[0]
    >>> panel.key, [t.title for t in panel.thumbnails], panel.pixels["wrong"]
    ('a', ['Ground truth', 'Prediction', 'Errors'], 1)
    """
    pred_dir, gt_dir = location(pred_dir), location(gt_dir)
    num_classes = report.config.num_classes
    colors, colors_source = class_colors(options, num_classes)
    painter = _Painter(num_classes, colors, report.config.class_names, max_side)
    rules = _Rules.of(options, num_classes)
    ranked = worst.ranked()
    pairs = _pairs_of(pred_dir, gt_dir, options, {image.key for image in ranked})
    photos_dir = None if images_dir is None else Path(images_dir)
    if photos_dir is not None and not photos_dir.is_dir():
        raise UsageError(f"--images {photos_dir}: not a folder; pass the folder of photos.")
    panels, without_photo = [], 0
    for image in ranked:
        gt_codes, pred_codes = rules.codes(pairs[image.key])
        error_codes = painter.error_codes(gt_codes, pred_codes)
        counts = painter.counts(error_codes)
        thumbnails = [
            painter.labels(gt_codes, "Ground truth", f"Ground truth of {image.key}"),
            painter.labels(pred_codes, "Prediction", f"Prediction of {image.key}"),
            painter.errors(error_codes, "Errors", counts),
        ]
        photo = None if photos_dir is None else find_photo(photos_dir, image.key)
        if photo is not None:
            thumbnails += painter.photos(photo, error_codes)
        elif photos_dir is not None:
            without_photo += 1
        panels.append(
            ImagePanel(
                key=image.key,
                scores=dict(image.values),
                thumbnails=tuple(thumbnails),
                pixels=counts,
                confusions=painter.confusions(gt_codes, pred_codes),
                size=(int(gt_codes.shape[1]), int(gt_codes.shape[0])),
            )
        )
    sources = {"Predictions": str(pred_dir), "Ground truth": str(gt_dir)}
    if photos_dir is not None:
        sources["Photos"] = str(photos_dir)
    notes = [_downscale_note(max_side)]
    if without_photo:
        notes.append(
            f"No photo found in {photos_dir} for {without_photo} of the "
            f"{counted(len(panels), 'image')} "
            f"(looked for KEY{'/'.join(PHOTO_SUFFIXES)})."
        )
    if worst.undefined:
        notes.append(
            f"Images with nothing scored (undefined mIoU) are not ranked: {worst.undefined}."
        )
    return Gallery(
        title=f"The {counted(len(panels), 'worst image')}" if panels else "Worst images",
        description=(
            f"The {counted(len(panels), 'image')} with the lowest per-image mIoU (each image "
            "scored on its "
            f"own, mean over the classes defined in it) of {worst.seen}, worst first; chosen "
            f"while streaming with a heap of {worst.k}."
        ),
        panels=tuple(panels),
        distribution=None if histogram is None else histogram.distribution(),
        sources=sources,
        class_colors=colors,
        colors_source=colors_source,
        notes=tuple(notes),
    )


def _downscale_note(max_side: int) -> str:
    return (
        f"Thumbnails are at most {max_side} pixels on their longest side, downscaled by "
        "nearest-neighbour sampling (thin errors may not show); every count is from the "
        "full-resolution masks."
    )


def _pairs_of(
    pred_dir: Location, gt_dir: Location, options: ScoreOptions, keys: set[str]
) -> dict[str, MaskPair]:
    """The pairs of the chosen keys (pairing again is cheaper than keeping every pair)."""
    if not keys:
        return {}
    pairing = pair_folders(pred_dir, gt_dir, options.pairing)
    return {pair.key: pair for pair in pairing.pairs if pair.key in keys}


# -------------------------------------------------------------- comparison


def options_from_config(config: ScoreConfig) -> ScoreOptions:
    """Scoring options that reproduce a saved report's settings.

    The class definition is reloaded from the preset or file the report names;
    pairing options are not recorded in reports and take their defaults.

    Raises
    ------
    UsageError
        The report's class definition file can no longer be read.

    Examples
    --------
    >>> config = ScoreConfig(num_classes=3, num_classes_inferred=False,
    ...                      class_names=("a", "b", "c"), ignore_index=(255,))
    >>> options = options_from_config(config)
    >>> options.class_names, list(options.ignore_index)
    (('a', 'b', 'c'), [255])
    """
    classes = None
    source = config.classes
    if source is not None and source.startswith("preset "):
        classes = load_preset(source.removeprefix("preset "))
    elif source is not None:
        if not Path(source).is_file():
            raise UsageError(
                f"the reports were scored with the class definition {source}, which cannot be "
                "found now; run from the folder the reports were made in."
            )
        classes = load_class_definition(source)
    names = None if classes is not None or config.num_classes_inferred else config.class_names
    ignore: tuple[int, ...] | None = config.ignore_index
    if classes is not None:
        # The definition's own ignore values per side, unless the report overrode them.
        own = classes.mapping(class_ids=config.class_ids in ("gt", "both")).ignore_values
        ignore = None if set(config.ignore_index) == set(own) else config.ignore_index
    options = ScoreOptions(
        num_classes=config.num_classes,
        class_names=names,
        classes=classes,
        class_ids=config.class_ids,  # type: ignore[arg-type]
        ignore_index=ignore,
        metric_options=replace(config.metric_options, exclude=frozenset()),
        out_of_range=config.out_of_range,  # type: ignore[arg-type]
        reduce_zero_label=config.reduce_zero_label and classes is None,
    )
    return replace(
        options,
        exclude_classes=tuple(str(index) for index in sorted(config.metric_options.exclude)),
    )


@dataclass(frozen=True)
class _ChangedImage:
    change: float
    key: str
    before: float
    after: float


def _image_miou(
    counts: tuple[str, np.ndarray, np.ndarray, np.ndarray], size: int, metric: MetricOptions
) -> float:
    _, tp, fp, fn = counts
    padded = [np.pad(values, (0, size - values.shape[0])) for values in (tp, fp, fn)]
    return float(compute_metrics(padded[0], padded[1], padded[2], metric).summary["miou"])


def changed_images(
    gt_dir: str | Path,
    baseline_pred: str | Path,
    candidate_pred: str | Path,
    baseline: Report,
    candidate: Report,
    *,
    k: int = DEFAULT_WORST,
    images_dir: str | Path | None = None,
    execution: Execution | None = None,
    max_side: int = DEFAULT_THUMBNAIL_SIZE,
) -> Gallery:
    """The images whose per-image mIoU changed most between two prediction folders.

    Both folders are scored image by image against ``gt_dir`` in one pass, with
    the settings of the candidate report (:func:`options_from_config`); the K
    largest absolute changes are kept in a heap and drawn side by side.

    Parameters
    ----------
    gt_dir, baseline_pred, candidate_pred : str or path-like
        The ground truth and the two runs' predictions.
    baseline, candidate : Report
        The reports being compared (the folders are checked against them).
    k : int
        Images to show.
    images_dir : str or path-like, optional
        Photos, paired by key.
    execution : Execution, optional
        Worker threads.
    max_side : int
        Longest side of a thumbnail.

    Returns
    -------
    Gallery
        Its notes say when the folders do not reproduce the reports' matrices.

    Examples
    --------
    >>> import tempfile
    >>> from segeval.run.evaluate import evaluate
    >>> root = Path(tempfile.mkdtemp())
    >>> masks = {"gt": [[0, 1], [1, 1]], "old": [[1, 1], [0, 0]], "new": [[0, 1], [0, 1]]}
    >>> for side, mask in masks.items():
    ...     (root / side).mkdir()
    ...     Image.fromarray(np.array(mask, dtype=np.uint8)).save(root / side / "a.png")
    >>> options = ScoreOptions(num_classes=2)
    >>> old, new = (evaluate(root / side, root / "gt", options) for side in ("old", "new"))
    >>> gallery = changed_images(root / "gt", root / "old", root / "new", old, new)
    >>> [(panel.key, round(panel.scores["change"], 4)) for panel in gallery.panels]
    [('a', 0.4583)]
    """
    gt_dir, baseline_pred, candidate_pred = Path(gt_dir), Path(baseline_pred), Path(candidate_pred)
    options = options_from_config(candidate.config)
    num_classes = candidate.config.num_classes
    metric = candidate.config.metric_options
    before = pair_folders(baseline_pred, gt_dir, options.pairing)
    after = {pair.key: pair for pair in pair_folders(candidate_pred, gt_dir, options.pairing).pairs}
    tasks = [
        ImageTask(pair.key, pair.gt_path, ((0, pair.pred_path), (1, after[pair.key].pred_path)))
        for pair in before.pairs
        if pair.pred_path is not None
        and after.get(pair.key) is not None
        and after[pair.key].pred_path is not None
    ]
    execution = execution or Execution()
    jobs = execution.jobs or default_jobs()
    work = Work(options.pair_reader(), options.new_accumulator(execution.chunk_pixels), True)
    totals = [work.template.copy_empty(), work.template.copy_empty()]
    heap: list[tuple[float, int, _ChangedImage]] = []
    seen = 0
    for result in ThreadExecutor(jobs).run(partial(count_tasks, work), chunked(tasks, jobs)):
        if isinstance(result, WorkerCrash):  # threads never crash this way
            raise SegevalError(result.message)
        for side in (0, 1):
            if side in result.counts:
                totals[side] += result.counts[side]
        for first, second in zip(result.images[0], result.images[1], strict=True):
            seen += 1
            old = _image_miou(first, num_classes, metric)
            new = _image_miou(second, num_classes, metric)
            change = new - old
            if math.isnan(change) or k == 0:
                continue
            item = (abs(change), -seen, _ChangedImage(change, first[0], old, new))
            if len(heap) < k:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    chosen = [entry for _, _, entry in sorted(heap, key=lambda item: (-item[0], -item[1]))]
    colors, colors_source = class_colors(options, num_classes)
    painter = _Painter(num_classes, colors, candidate.config.class_names, max_side)
    rules = _Rules.of(options, num_classes)
    panels = []
    photos_dir = None if images_dir is None else Path(images_dir)
    chosen_tasks = {task.key: task for task in tasks if task.key in {c.key for c in chosen}}
    for image in chosen:
        task = chosen_tasks[image.key]
        gt_codes, old_codes = rules.codes(MaskPair(task.key, task.gt_path, task.predictions[0][1]))
        _, new_codes = rules.codes(MaskPair(task.key, task.gt_path, task.predictions[1][1]))
        old_errors = painter.error_codes(gt_codes, old_codes)
        new_errors = painter.error_codes(gt_codes, new_codes)
        old_counts, new_counts = painter.counts(old_errors), painter.counts(new_errors)
        thumbnails = [
            painter.labels(gt_codes, "Ground truth", f"Ground truth of {image.key}"),
            painter.labels(old_codes, "Baseline", f"Baseline prediction of {image.key}"),
            painter.labels(new_codes, "Candidate", f"Candidate prediction of {image.key}"),
            painter.errors(old_errors, "Baseline errors", old_counts),
            painter.errors(new_errors, "Candidate errors", new_counts),
        ]
        photo = None if photos_dir is None else find_photo(photos_dir, image.key)
        if photo is not None:
            thumbnails.append(painter.photos(photo, new_errors)[0])
        pixels = {f"baseline {name}": count for name, count in old_counts.items()}
        pixels.update({f"candidate {name}": count for name, count in new_counts.items()})
        panels.append(
            ImagePanel(
                key=image.key,
                scores={
                    "baseline mIoU": image.before,
                    "candidate mIoU": image.after,
                    "change": image.change,
                },
                thumbnails=tuple(thumbnails),
                pixels=pixels,
                confusions=painter.confusions(gt_codes, new_codes),
                size=(int(gt_codes.shape[1]), int(gt_codes.shape[0])),
            )
        )
    notes = [_downscale_note(max_side)]
    for name, report, total in (
        ("baseline", baseline, totals[0]),
        ("candidate", candidate, totals[1]),
    ):
        if not _same_counts(report, total):
            notes.append(
                f"The {name} folder scored here does not reproduce the {name} report's confusion "
                "matrix: these pictures may not show the run the report describes."
            )
    sources = {
        "Ground truth": str(gt_dir),
        "Baseline predictions": str(baseline_pred),
        "Candidate predictions": str(candidate_pred),
    }
    if photos_dir is not None:
        sources["Photos"] = str(photos_dir)
    return Gallery(
        title=f"The {len(panels)} most changed images",
        description=(
            f"The {counted(len(panels), 'image')} (of {seen} scored in both folders) whose "
            "per-image mIoU "
            "changed most between baseline and candidate, largest change first; both folders "
            "scored image by image with the candidate report's settings, chosen with a heap of "
            f"{k}. Errors are shown for each run; mix-ups listed are the candidate's."
        ),
        panels=tuple(panels),
        sources=sources,
        class_colors=colors,
        colors_source=colors_source,
        notes=tuple(notes),
    )


def changed_from_counts(
    baseline: Report, candidate: Report, *, k: int = DEFAULT_WORST
) -> Gallery | None:
    """The images whose mIoU changed most, from the per-image counts both reports carry.

    Reports scored with ``--ci`` keep every image's counts (``image_counts``), so
    the most changed images can be named without the folders; there is nothing to
    draw them with, so the panels hold numbers only.

    Returns
    -------
    Gallery or None
        None when either report has no per-image counts.

    Examples
    --------
    >>> from segeval.stats import ImageCountTable
    >>> from segeval import ConfusionMatrix, build_report
    >>> report = build_report(ConfusionMatrix.from_counts(np.array([[3, 1], [0, 4]])))
    >>> old = replace(report, image_counts=ImageCountTable.from_rows(
    ...     [("a", [3, 4], [0, 1], [1, 0]), ("b", [0, 0], [0, 0], [0, 0])]))
    >>> new = replace(report, image_counts=ImageCountTable.from_rows(
    ...     [("a", [4, 4], [0, 0], [0, 0]), ("b", [0, 0], [0, 0], [0, 0])]))
    >>> [(p.key, round(p.scores["change"], 4)) for p in changed_from_counts(old, new).panels]
    [('a', 0.225)]
    """
    before, after = baseline.image_counts, candidate.image_counts
    if before is None or after is None:
        return None
    metric = candidate.config.metric_options
    size = max(before.num_classes, after.num_classes)
    rows = {key: index for index, key in enumerate(before.keys)}
    heap: list[tuple[float, int, _ChangedImage]] = []
    shared = 0
    for index, key in enumerate(after.keys):
        if key not in rows:
            continue
        shared += 1
        old = _image_miou(
            (key, before.tp[rows[key]], before.fp[rows[key]], before.fn[rows[key]]), size, metric
        )
        new = _image_miou((key, after.tp[index], after.fp[index], after.fn[index]), size, metric)
        if math.isnan(new - old) or k == 0:
            continue
        item = (abs(new - old), -shared, _ChangedImage(new - old, key, old, new))
        if len(heap) < k:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    chosen = [entry for _, _, entry in sorted(heap, key=lambda item: (-item[0], -item[1]))]
    panels = tuple(
        ImagePanel(
            key=image.key,
            scores={
                "baseline mIoU": image.before,
                "candidate mIoU": image.after,
                "change": image.change,
            },
            thumbnails=(),
        )
        for image in chosen
    )
    return Gallery(
        title=f"The {len(panels)} most changed images",
        description=(
            f"The {counted(len(panels), 'image')} (of {shared} in both reports) whose "
            "per-image mIoU "
            "changed most, largest change first, computed from the per-image counts both "
            "reports carry (scored with --ci). Numbers only: pass --gt, --baseline-pred and "
            "--candidate-pred to draw them."
        ),
        panels=panels,
        class_colors=class_palette(candidate.config.num_classes),
        colors_source="generated colour-blind-friendly palette",
    )


def _same_counts(report: Report, total: ConfusionMatrix) -> bool:
    counts = report.confusion_matrix
    return counts.shape == total.counts.shape and bool(np.array_equal(counts, total.counts))
