"""Renderers: one module per command's result, each exposing ``FORMATS``.

Every renderer module maps format names to ``renderer(result, options) -> str``
(:mod:`segeval.render.score` for score reports, :mod:`~segeval.render.compare`,
:mod:`~segeval.render.leaderboard`, :mod:`~segeval.render.inspection`,
:mod:`~segeval.render.listings`); the CLI builds each ``--format`` choice list
from them, so a new format for a command is one entry in one module. Renderers
depend on result types only, never on the modules that run the work.
"""

from segeval.render.layout import RenderOptions
from segeval.render.score import FORMATS, render

__all__ = ["FORMATS", "RenderOptions", "render"]
