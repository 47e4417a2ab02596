"""Defaults the command line shows in ``--help``, importable without numpy.

The CLI builds its options when it starts; keeping these here lets it do so
without importing the modules that use them (``segeval --version`` and
``--help`` stay fast).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_ARCHIVE_BYTES", "DEFAULT_WORST"]

#: Lowest-scoring images an HTML report shows.
DEFAULT_WORST = 12

#: Largest expansion of one submission archive in ``batch``.
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 2**30
