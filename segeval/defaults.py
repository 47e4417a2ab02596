"""Defaults the command line shows in ``--help``, importable without numpy.

The CLI builds its options when it starts; keeping these here lets it do so
without importing the modules that use them (``segeval --version`` and
``--help`` stay fast).
"""

from __future__ import annotations

__all__ = [
    "CITYSCAPES_BOUNDARY_RATIO",
    "CITYSCAPES_INSTANCE_SUFFIX",
    "DEFAULT_BAND_RATIO",
    "DEFAULT_BF_FRACTION",
    "DEFAULT_MAX_ARCHIVE_BYTES",
    "DEFAULT_MAX_CLASSES",
    "DEFAULT_MAX_EXTRACT_BYTES",
    "DEFAULT_MAX_MASK_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_VOXELS",
    "DEFAULT_NSD_TOLERANCE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORST",
]

#: Lowest-scoring images an HTML report shows.
DEFAULT_WORST = 12

#: Default limit on the total declared uncompressed size of one archive.
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 2**30

#: Default limit on the bytes of extracted files in the temporary folder at once.
DEFAULT_MAX_EXTRACT_BYTES = 8 * 2**30

#: Default seconds a submission may take to be prepared and counted.
DEFAULT_TIMEOUT = 1800.0

#: Default limit on the size of one mask file (``--max-mask-bytes``). Label masks
#: compress well; an uncompressed 100-megapixel 16-bit mask is 200 MB.
DEFAULT_MAX_MASK_BYTES = 256 * 2**20

#: Default limit on the pixels of one mask (``--max-pixels``), read from the
#: header before decoding: a 138-byte PNG may declare 60000 x 60000 pixels.
DEFAULT_MAX_PIXELS = 100_000_000

#: Default limit on the voxels of one volume (``--max-voxels``), from its header:
#: a whole-body CT label map of 512 x 512 x 1500 is 393 million voxels.
DEFAULT_MAX_VOXELS = 1_000_000_000

#: Boundary IoU band width as a fraction of the image diagonal (COCO / LVIS default).
DEFAULT_BAND_RATIO = 0.02

#: Boundary F1 tolerance as a fraction of the image diagonal (MATLAB ``bfscore``).
DEFAULT_BF_FRACTION = 0.0075

#: NSD tolerance tau in pixels when none is given.
DEFAULT_NSD_TOLERANCE = 1.0

#: Default limit on the number of classes (``--max-classes``), given or inferred:
#: a C x C confusion matrix of uint64 costs 8 C**2 bytes, 8 MiB at this limit,
#: and a run holds one per worker and, in a batch, per submission.
DEFAULT_MAX_CLASSES = 1024

#: Boundary IoU band of ``--convention cityscapes``, a fraction of the image diagonal.
CITYSCAPES_BOUNDARY_RATIO = 0.005

#: Suffix of the Cityscapes instance maps beside ``*_gtFine_labelIds.png``
#: (``--gt-instance-suffix`` under the cityscapes preset or convention).
CITYSCAPES_INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
