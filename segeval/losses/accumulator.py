"""The streaming loss accumulator: per-image sufficient statistics that add up.

Stages, as in torchmetrics: options are checked once (:class:`LossOptions`);
each image is checked (:mod:`segeval.losses.validate`), then read in row blocks
of bounded size, reduced to per-image statistics (:class:`ImageStats`) and
dropped; values are computed from the statistics only when asked
(:meth:`LossAccumulator.result`). Accumulators merge by addition.

What each term keeps per image:

* ``ce``: sum of ``w[y] * -log p_y``, of ``-sum_c w_c log p_c`` (smoothing) and
  of ``w[y]``;
* ``bce``, ``focal``, ``boundary``: a sum of per-pixel terms and the pixel count;
* ``dice``, ``jaccard``: per class ``sum p*t``, ``sum p``, ``sum t`` (both
  conventions are computed from these);
* ``lovasz``: the per-image value and, for the whole set, every pixel's error
  per class (it sorts them all; bounded by ``lovasz_budget_bytes``);
* calibration: a :class:`CalibrationHistogram`.

"Whole set" means: as if all images were one batch given to the reference with
its default mean reduction. Per-image values are the reference on that image
alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from segeval.errors import LossMemoryError, ShapeMismatchError, UsageError
from segeval.loss_report import ImageLosses, LossReport, weighted_total
from segeval.losses.calibration import CalibrationHistogram
from segeval.losses.distance import signed_distance
from segeval.losses.lovasz import lovasz_from_errors
from segeval.losses.options import TERMS, LossOptions
from segeval.losses.validate import (
    check_channels,
    check_finite,
    check_probabilities,
    check_target,
    image_view,
)
from segeval.wording import counted

__all__ = ["ImageStats", "LossAccumulator", "lovasz_budget_message", "lovasz_bytes"]

FloatArray = npt.NDArray[np.float64]
_LOG_CLAMP = -100.0  # PyTorch's BCELoss clamps log(p) and log(1 - p) here.


@dataclass
class ImageStats:
    """Sufficient statistics of one image (or of several, once merged)."""

    name: str
    num_classes: int
    pixels: int = 0
    ce_nll: float = 0.0
    ce_smooth: float = 0.0
    ce_weight: float = 0.0
    bce_sum: float = 0.0
    focal_sum: float = 0.0
    boundary_sum: float = 0.0
    intersection: FloatArray = field(default_factory=lambda: np.zeros(0))
    pred_sum: FloatArray = field(default_factory=lambda: np.zeros(0))
    target_sum: FloatArray = field(default_factory=lambda: np.zeros(0))
    lovasz: float = float("nan")
    calibration: CalibrationHistogram | None = None

    def __post_init__(self) -> None:
        width = self.num_classes
        self.intersection = np.zeros(width)
        self.pred_sum = np.zeros(width)
        self.target_sum = np.zeros(width)


class LossAccumulator:
    """Accumulate loss terms and calibration image by image, in bounded memory.

    Parameters
    ----------
    terms : mapping of str to float, or sequence of str
        Term names from :data:`~segeval.losses.options.TERMS`, with their weights
        in the total (a sequence weights each term 1).
    num_classes : int or None
        Expected channel count (1 for binary); None takes the first image's.
    options : LossOptions or None
        Loss options; defaults to ``LossOptions()``.
    calibration : bool, default False
        Also accumulate the calibration histogram (ECE and Brier score).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> acc = LossAccumulator({"ce": 1.0, "dice": 0.5}, num_classes=3)
    >>> for index in range(2):
    ...     logits = rng.normal(size=(3, 4, 5)).astype(np.float32)
    ...     acc.add_image(logits, rng.integers(0, 3, size=(4, 5)), name=f"img{index}")
    >>> report = acc.result()
    >>> sorted(report.values), len(report.per_image)
    (['ce', 'dice'], 2)
    >>> bool(np.isclose(report.total, report.values["ce"] + 0.5 * report.values["dice"]))
    True
    """

    def __init__(
        self,
        terms: Mapping[str, float] | Sequence[str],
        *,
        num_classes: int | None = None,
        options: LossOptions | None = None,
        calibration: bool = False,
    ) -> None:
        weights = dict(terms) if isinstance(terms, Mapping) else dict.fromkeys(terms, 1.0)
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise UsageError(
                f"--loss: unknown term {unknown[0]!r}; expected one of {', '.join(TERMS)}."
            )
        if num_classes is not None and num_classes < 1:
            raise UsageError(f"num_classes: expected at least 1, got {num_classes}.")
        self.weights = {name: float(weight) for name, weight in weights.items()}
        self.options = options or LossOptions()
        self.calibration = calibration
        self.num_classes = num_classes
        self.images: list[ImageStats] = []
        # Whole-set Lovasz: per block, the labels (P,) and errors (C, P) of valid pixels.
        self._lovasz_labels: list[npt.NDArray[np.int64]] = []
        self._lovasz_errors: list[FloatArray] = []
        self._lovasz_bytes = 0
        if num_classes is not None:
            self._check_terms(num_classes)

    # -- feeding -----------------------------------------------------------------

    def update(
        self,
        scores: npt.NDArray[Any],
        target: npt.NDArray[Any],
        *,
        names: Sequence[str] | None = None,
    ) -> None:
        """Add one image ``(C, H, W)`` / ``(H, W)`` or a batch ``(N, C, H, W)``."""
        scores = np.asarray(scores) if not isinstance(scores, np.ndarray) else scores
        target = np.asarray(target)
        if scores.ndim == 4:
            if target.ndim != 3 or target.shape[0] != scores.shape[0]:
                raise ShapeMismatchError(
                    f"scores of shape {scores.shape} (N, C, H, W) need targets of shape "
                    f"{(scores.shape[0], *scores.shape[2:])} (N, H, W), got {target.shape}."
                )
            for index in range(scores.shape[0]):
                name = names[index] if names is not None else f"#{len(self.images)}"
                self.add_image(scores[index], target[index], name=name)
        else:
            self.add_image(scores, target, name=names[0] if names else None)

    def add_image(
        self,
        scores: npt.NDArray[Any],
        target: npt.NDArray[Any],
        *,
        name: str | None = None,
        source: str | None = None,
    ) -> None:
        """Add one image, reading ``scores`` in row blocks (a memory map stays on disk).

        Parameters
        ----------
        scores : ndarray, shape (C, H, W), (1, H, W) or (H, W)
            Logits or probabilities, float16/32/64 (``np.load(path, mmap_mode="r")``
            is read block by block).
        target : ndarray of int, shape (H, W)
            Class ids, ``ignore_index`` for pixels that count nowhere.
        name : str or None
            Names the image in per-image values (and in error messages, unless
            ``source`` is given).
        source : str or None
            The file the scores came from, named in error messages.

        Raises
        ------
        ScoreValueError, ShapeMismatchError, ChannelCountError, LabelRangeError
            Scores or target that cannot be used, naming ``source`` (or ``name``).
        LossMemoryError
            The whole-set Lovasz would exceed its budget with this image (checked
            before anything is read).
        """
        name = name if name is not None else f"#{len(self.images)}"
        label = source if source is not None else name
        scores = image_view(scores, name=label)
        channels = scores.shape[0]
        if self.num_classes is None:
            self._check_terms(channels)
            self.num_classes = channels
        check_channels(scores.shape, self.num_classes, name=label)
        labels = check_target(
            target, scores.shape, name=label, ignore_index=self.options.ignore_index
        )
        if "lovasz" in self.weights and not self.options.lovasz_per_image:
            self._reserve_lovasz(scores.shape, label)
        stats = ImageStats(name, channels)
        if self.calibration:
            stats.calibration = CalibrationHistogram(self.options.n_bins)
        valid_mask = labels >= 0
        whole_set_lovasz = "lovasz" in self.weights and not self.options.lovasz_per_image
        per_class = "lovasz" in self.weights or "boundary" in self.weights
        # Softmax normaliser of each kept pixel (max and log-sum-exp of the shifted
        # scores), so that the per-class pass recomputes each class's probability
        # exactly as the block pass did, one class at a time.
        normaliser: list[list[FloatArray]] | None = (
            [[], []] if per_class and channels > 1 and self.options.input == "logits" else None
        )
        for row_start, row_stop in self._row_blocks(scores.shape):
            block = np.asarray(scores[:, row_start:row_stop], dtype=np.float64)
            check_finite(block, name=label, row_offset=row_start)
            if self.options.input == "probs":
                check_probabilities(
                    block, self.options.probs_atol, name=label, row_offset=row_start
                )
            valid = valid_mask[row_start:row_stop]
            block_labels = labels[row_start:row_stop][valid]
            pixels = block.reshape(channels, -1)[:, valid.ravel()]
            lovasz_errors = self._block_stats(
                stats, pixels, block_labels, normaliser, lovasz=whole_set_lovasz
            )
            if lovasz_errors is not None:
                self._store_lovasz(block_labels, lovasz_errors)
        if per_class and stats.pixels:
            self._per_class(stats, scores, labels, valid_mask, normaliser)
        self.images.append(stats)

    def _per_class(
        self,
        stats: ImageStats,
        scores: npt.NDArray[Any],
        labels: npt.NDArray[np.int64],
        valid_mask: npt.NDArray[np.bool_],
        normaliser: list[list[FloatArray]] | None,
    ) -> None:
        """Boundary and per-image Lovasz, one class present at a time.

        Both need a whole image per class (a distance transform, a sort), so
        taking the classes one by one bounds the memory by one class's maps
        instead of all classes' at once.
        """
        channels = scores.shape[0]
        kept_labels = labels[valid_mask]
        shift = logsum = None
        if normaliser is not None:
            shift, logsum = (np.concatenate(parts) for parts in normaliser)
            normaliser.clear()
        lovasz_losses = []
        # Binary: the foreground, in the one channel. Several: each class present.
        classes = [1] if channels == 1 else np.unique(kept_labels).tolist()
        for class_id in classes:
            row = 0 if channels == 1 else class_id
            channel = np.asarray(scores[row], dtype=np.float64)[valid_mask]
            fg = kept_labels == class_id
            if channels == 1:
                if self.options.input == "logits":
                    probs = np.exp(-np.logaddexp(0.0, -channel))
                    logit = channel
                else:
                    probs = channel
                    with np.errstate(divide="ignore"):
                        logit = np.log(channel) - np.log1p(-channel)
            elif shift is not None and logsum is not None:
                probs = np.exp((channel - shift) - logsum)
            else:
                probs = channel
            if "boundary" in self.weights and fg.any():
                phi = signed_distance(labels == class_id)[valid_mask]
                stats.boundary_sum += float(np.dot(probs, phi))
                del phi
            if "lovasz" in self.weights:
                if channels == 1:
                    hinge = 1.0 - logit * (2.0 * fg - 1.0)
                    lovasz_losses.append(lovasz_from_errors(hinge, fg, hinge=True))
                elif fg.any():
                    errors = np.where(fg, 1.0 - probs, probs)
                    lovasz_losses.append(lovasz_from_errors(errors, fg))
        if lovasz_losses:
            stats.lovasz = float(np.mean(lovasz_losses))

    # -- merging and results -------------------------------------------------------

    def merge(self, other: LossAccumulator) -> LossAccumulator:
        """A new accumulator holding both: images of ``self`` first, then ``other``."""
        # The block size changes memory, not values: accumulators may differ in it.
        same_options = replace(self.options, block_bytes=1) == replace(other.options, block_bytes=1)
        if self.weights != other.weights or not same_options:
            raise UsageError("cannot merge loss accumulators with different terms or options.")
        if None not in (self.num_classes, other.num_classes) and (
            self.num_classes != other.num_classes
        ):
            raise UsageError(
                f"cannot merge loss accumulators of {self.num_classes} and "
                f"{counted(other.num_classes or 0, 'class')}."
            )
        budget = self.options.lovasz_budget_bytes
        if self._lovasz_bytes + other._lovasz_bytes > budget:
            name = other.images[0].name if other.images else "merged accumulators"
            raise LossMemoryError(lovasz_budget_message(name, budget))
        merged = LossAccumulator(
            self.weights,
            num_classes=self.num_classes or other.num_classes,
            options=self.options,
            calibration=self.calibration,
        )
        merged.images = [*self.images, *other.images]
        merged._lovasz_labels = [*self._lovasz_labels, *other._lovasz_labels]
        merged._lovasz_errors = [*self._lovasz_errors, *other._lovasz_errors]
        merged._lovasz_bytes = self._lovasz_bytes + other._lovasz_bytes
        return merged

    __add__ = merge

    def result(self) -> LossReport:
        """Whole-set values, per-image values and weighted totals."""
        num_classes = self.num_classes or 0
        values = {term: self._whole_set(term) for term in self.weights}
        per_image = []
        for stats in self.images:
            image_values = {
                term: stats.lovasz if term == "lovasz" else _term_value(term, [stats], self.options)
                for term in self.weights
            }
            per_image.append(
                ImageLosses(
                    name=stats.name,
                    values=image_values,
                    total=weighted_total(image_values, self.weights),
                    pixels=stats.pixels,
                    calibration=None if stats.calibration is None else stats.calibration.result(),
                )
            )
        calibration = None
        if self.calibration:
            hist = CalibrationHistogram(self.options.n_bins)
            for stats in self.images:
                if stats.calibration is not None:
                    hist = hist + stats.calibration
            calibration = hist.result()
        return LossReport(
            values=values,
            weights=dict(self.weights),
            total=weighted_total(values, self.weights),
            per_image=tuple(per_image),
            num_classes=num_classes,
            options=self.options,
            calibration=calibration,
        )

    # -- internals ---------------------------------------------------------------------

    def _check_terms(self, channels: int) -> None:
        if channels == 1 and "ce" in self.weights:
            raise UsageError("--loss ce needs at least two channels; use bce for one channel.")
        if channels > 1 and "bce" in self.weights:
            raise UsageError(
                f"--loss bce needs one channel (binary), got {channels}; use ce or focal."
            )
        options = self.options
        for option, weights in (
            ("--class-weights", options.class_weights),
            ("--alpha", options.alpha),
        ):
            if isinstance(weights, tuple) and len(weights) != channels:
                raise UsageError(
                    f"{option}: {len(weights)} weights for {counted(channels, 'class')}; give "
                    "one per class."
                )

    def _row_blocks(self, shape: tuple[int, ...]) -> Iterator[tuple[int, int]]:
        channels, height, width = shape
        rows = max(1, self.options.block_bytes // max(1, channels * width * 8))
        for start in range(0, height, rows):
            yield start, min(height, start + rows)

    def _block_stats(
        self,
        stats: ImageStats,
        pixels: FloatArray,
        labels: npt.NDArray[np.int64],
        normaliser: list[list[FloatArray]] | None,
        *,
        lovasz: bool,
    ) -> FloatArray | None:
        """Add one block of valid pixels; return its Lovasz errors when ``lovasz``."""
        options = self.options
        terms = self.weights
        count = labels.shape[0]
        stats.pixels += count
        if count == 0:
            return np.zeros((pixels.shape[0], 0)) if lovasz else None
        columns = np.arange(count)
        channels = pixels.shape[0]
        if channels == 1:
            score = pixels[0]
            truth = labels.astype(np.float64)
            if options.input == "logits":
                log_pos = -np.logaddexp(0.0, -score)
                log_neg = -np.logaddexp(0.0, score)
                prob = np.exp(log_pos)
            else:
                prob = score
                with np.errstate(divide="ignore"):
                    log_pos = np.maximum(np.log(prob), _LOG_CLAMP)
                    log_neg = np.maximum(np.log1p(-prob), _LOG_CLAMP)
            probs = prob[None, :]
            if "bce" in terms:
                pos_weight = 1.0 if options.pos_weight is None else options.pos_weight
                stats.bce_sum -= float(
                    np.sum(pos_weight * truth * log_pos + (1.0 - truth) * log_neg)
                )
            if "focal" in terms:
                cross_entropy = -(truth * log_pos + (1.0 - truth) * log_neg)
                # 1 - p_t: the probability of the wrong side.
                miss = np.where(truth > 0, np.exp(log_neg), np.exp(log_pos))
                loss = cross_entropy * miss**options.gamma
                alpha = 0.25 if options.alpha is None else options.alpha
                if isinstance(alpha, tuple):
                    alpha = alpha[0]
                if alpha >= 0:
                    loss = (alpha * truth + (1.0 - alpha) * (1.0 - truth)) * loss
                stats.focal_sum += float(loss.sum())
            prob_true = prob * truth
            stats.intersection += prob_true.sum()
            stats.pred_sum += prob.sum()
            stats.target_sum += truth.sum()
        else:
            if options.input == "logits":
                shift = pixels.max(axis=0)
                shifted = pixels - shift
                logsum = np.log(np.exp(shifted).sum(axis=0))
                log_probs = shifted - logsum
                probs = np.exp(log_probs)
                if normaliser is not None:
                    normaliser[0].append(shift)
                    normaliser[1].append(logsum)
            else:
                probs = pixels
                with np.errstate(divide="ignore"):
                    log_probs = np.log(probs)
            log_true = log_probs[labels, columns]
            if "ce" in terms:
                weights = (
                    np.ones(channels)
                    if options.class_weights is None
                    else np.asarray(options.class_weights, dtype=np.float64)
                )
                weight_true = weights[labels]
                stats.ce_nll -= float(np.dot(weight_true, log_true))
                stats.ce_weight += float(weight_true.sum())
                if options.label_smoothing > 0:
                    stats.ce_smooth -= float(np.dot(weights, log_probs.sum(axis=1)))
            if "focal" in terms:
                loss = -((-np.expm1(log_true)) ** options.gamma) * log_true
                if isinstance(options.alpha, tuple):
                    loss = np.asarray(options.alpha, dtype=np.float64)[labels] * loss
                elif options.alpha is not None:
                    loss = options.alpha * loss
                stats.focal_sum += float(loss.sum())
            prob_true = probs[labels, columns]
            stats.intersection += np.bincount(labels, weights=prob_true, minlength=channels)
            stats.pred_sum += probs.sum(axis=1)
            stats.target_sum += np.bincount(labels, minlength=channels)
        if stats.calibration is not None:
            stats.calibration.update(probs, labels)
        if not lovasz:
            return None
        if channels == 1:
            score = pixels[0]
            if options.input == "probs":
                with np.errstate(divide="ignore"):
                    score = np.log(pixels[0]) - np.log1p(-pixels[0])
            signs = 2.0 * labels - 1.0
            hinge_errors: FloatArray = (1.0 - score * signs)[None, :]
            return hinge_errors
        errors: FloatArray = probs.copy()
        errors[labels, columns] = 1.0 - prob_true
        return errors

    def _reserve_lovasz(self, shape: tuple[int, ...], name: str) -> None:
        """Count an image against the whole-set Lovasz budget before reading it.

        Every pixel counts (ignored ones too), so the need is known from the
        shapes alone: a caller can check a whole set before starting
        (:func:`lovasz_bytes`), and the answer never depends on the split.
        """
        added = lovasz_bytes(shape)
        if self._lovasz_bytes + added > self.options.lovasz_budget_bytes:
            raise LossMemoryError(lovasz_budget_message(name, self.options.lovasz_budget_bytes))
        self._lovasz_bytes += added

    def _store_lovasz(self, labels: npt.NDArray[np.int64], errors: FloatArray) -> None:
        self._lovasz_labels.append(
            labels.astype(np.int16 if labels.max(initial=0) < 2**15 else np.int64)
        )
        self._lovasz_errors.append(errors)

    def _whole_set(self, term: str) -> float:
        if term != "lovasz":
            return _term_value(term, self.images, self.options)
        if self.options.lovasz_per_image:
            per_image = [stats.lovasz for stats in self.images if stats.pixels]
            return float(np.mean(per_image)) if per_image else float("nan")
        return _lovasz_value(
            self._lovasz_labels,
            self._lovasz_errors,
            range(self.num_classes or 1),
            hinge=self.num_classes == 1,
        )


def _lovasz_value(
    label_blocks: Sequence[npt.NDArray[Any]],
    error_blocks: Sequence[FloatArray],
    classes: Sequence[int],
    *,
    hinge: bool,
) -> float:
    """smp's Lovasz over the given pixels: mean over present classes (or the hinge).

    ``error_blocks[b][i]`` holds the errors of class ``classes[i]``; one class's
    errors are joined at a time, so the transient memory is one class's.
    """
    labels = np.concatenate(label_blocks) if label_blocks else np.zeros(0, dtype=np.int64)
    if labels.shape[0] == 0:
        return float("nan")
    if hinge:
        errors = np.concatenate([block[0] for block in error_blocks])
        return lovasz_from_errors(errors, labels.astype(np.float64), hinge=True)
    losses = []
    for row, class_id in enumerate(classes):
        fg = labels == class_id
        if fg.any():
            errors = np.concatenate([block[row] for block in error_blocks])
            losses.append(lovasz_from_errors(errors, fg.astype(np.float64)))
    return float(np.mean(losses))


def _term_value(term: str, images: Sequence[ImageStats], options: LossOptions) -> float:
    pixels = sum(stats.pixels for stats in images)
    if pixels == 0:
        return float("nan")
    if term == "ce":
        weight = sum(stats.ce_weight for stats in images)
        nll = sum(stats.ce_nll for stats in images)
        smoothing = options.label_smoothing
        if weight == 0:
            return float("nan")  # PyTorch: 0 / 0
        if smoothing > 0:
            num_classes = images[0].num_classes
            smooth = sum(stats.ce_smooth for stats in images)
            return ((1.0 - smoothing) * nll + smoothing / num_classes * smooth) / weight
        return nll / weight
    if term in ("bce", "focal"):
        total = sum(stats.bce_sum if term == "bce" else stats.focal_sum for stats in images)
        return total / pixels
    if term == "boundary":
        classes = images[0].num_classes
        return sum(stats.boundary_sum for stats in images) / (pixels * classes)
    if term in ("dice", "jaccard"):
        return _overlap_loss(term, images, options)
    raise UsageError(f"unknown loss term {term!r}.")  # lovasz is handled by the caller


def _overlap_loss(term: str, images: Sequence[ImageStats], options: LossOptions) -> float:
    smooth = options.smooth_value
    if options.convention == "smp":
        inter = np.sum([stats.intersection for stats in images], axis=0)
        pred = np.sum([stats.pred_sum for stats in images], axis=0)
        truth = np.sum([stats.target_sum for stats in images], axis=0)
        if term == "dice":
            score = (inter + smooth) / np.maximum(0.5 * (pred + truth) + smooth, options.eps)
        else:
            score = (inter + smooth) / np.maximum(pred + truth - inter + smooth, options.eps)
        loss = (1.0 - score) * (truth > 0)
        return float(loss.mean())
    per_image = []
    for stats in images:
        if stats.pixels == 0:
            continue
        inter, pred, truth = stats.intersection, stats.pred_sum, stats.target_sum
        if term == "dice":
            denominator = pred + truth + smooth
        else:
            denominator = 2.0 * (pred + truth - inter) + smooth
        per_image.append(1.0 - (2.0 * inter + smooth) / denominator)
    return float(np.mean(per_image))


def lovasz_bytes(shape: tuple[int, ...]) -> int:
    """Bytes the whole-set Lovasz holds for one image of scores ``(C, H, W)`` or ``(H, W)``.

    8 per pixel and class (the errors, float64) plus 2 per pixel (the label),
    counting every pixel, ignored ones too.

    Examples
    --------
    >>> lovasz_bytes((19, 1024, 2048)) / 2**20
    308.0
    """
    channels = 1 if len(shape) == 2 else shape[0]
    pixels = shape[-2] * shape[-1]
    return pixels * (8 * channels + 2)


def lovasz_budget_message(name: str, budget: int) -> str:
    """The one-line refusal of a whole-set Lovasz over its budget."""
    return (
        f"{name}: the whole-set Lovasz loss sorts every pixel's error of every class "
        f"together (8 bytes per pixel and class plus 2 per pixel) and would need more than "
        f"its budget of {budget / 2**20:.0f} MiB with this image; use --lovasz-per-image "
        f"(the mean of per-image values), or raise --lovasz-budget."
    )
