"""Counts in words: "1 image", "2 images", "1 class", "12,345 pixels".

Every user-facing message that puts a number before a noun goes through
:func:`counted`, so that no message says "1 images" (a test scans the sources
for f-strings that do it by hand).
"""

from __future__ import annotations

__all__ = ["are", "counted", "have", "plural"]

_IRREGULAR = {"class": "classes", "category": "categories", "entry": "entries"}


def plural(noun: str) -> str:
    """The plural of a noun segeval counts.

    Examples
    --------
    >>> plural("image"), plural("class"), plural("category"), plural("label value")
    ('images', 'classes', 'categories', 'label values')
    """
    *head, last = noun.split(" ")
    if last in _IRREGULAR:
        return " ".join([*head, _IRREGULAR[last]])
    if last.endswith(("s", "x", "ch", "sh")):
        return " ".join([*head, last + "es"])
    return " ".join([*head, last + "s"])


def counted(
    count: int, noun: str, plural_form: str | None = None, *, thousands: bool = False
) -> str:
    """``count`` and ``noun``, singular for exactly one.

    Parameters
    ----------
    count : int
    noun : str
        The singular (``"image"``, ``"ground-truth file"``); only its last
        word is made plural.
    plural_form : str, optional
        For nouns :func:`plural` gets wrong.
    thousands : bool, default False
        Group the digits (``12,345``), as pixel counts are shown.

    Examples
    --------
    >>> counted(1, "image"), counted(2, "image"), counted(0, "class")
    ('1 image', '2 images', '0 classes')
    >>> counted(1234567, "pixel", thousands=True)
    '1,234,567 pixels'
    >>> counted(1, "ground-truth file"), counted(3, "ground-truth file")
    ('1 ground-truth file', '3 ground-truth files')
    """
    number = f"{count:,}" if thousands else str(count)
    if count == 1:
        return f"{number} {noun}"
    return f"{number} {plural_form or plural(noun)}"


def are(count: int) -> str:
    """``is`` for one, ``are`` otherwise: ``f"{counted(n, 'file')} {are(n)} JPEG"``.

    Examples
    --------
    >>> f"{counted(1, 'file')} {are(1)} JPEG", f"{counted(2, 'file')} {are(2)} JPEG"
    ('1 file is JPEG', '2 files are JPEG')
    """
    return "is" if count == 1 else "are"


def have(count: int) -> str:
    """``has`` for one, ``have`` otherwise.

    Examples
    --------
    >>> f"{counted(1, 'image key')} {have(1)} no group"
    '1 image key has no group'
    """
    return "has" if count == 1 else "have"
