r"""Regular expressions on a linear-time engine: RE2, through Google's ``google-re2`` binding.

Python's ``re`` backtracks: ``(a+)+$`` on 26 characters sent by a device blocked the event
loop for seconds, doubling with each character. RE2 matches in time linear in the text
for every pattern, so a pattern in a flow can never stall the flow, whatever a device
sends. The price is RE2's syntax, which has no backreferences (``\1``) and no lookaround
(``(?=``, ``(?!``, ``(?<=``); such a pattern is refused when the flow loads. ``\d``,
``\w``, ``\s`` and ``\b`` are ASCII-only in RE2 (Python's are Unicode); write the
characters out (``[\w\x{00C0}-\x{024F}]``) where that matters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import re2

__all__ = ["MAX_PATTERN_LENGTH", "RegexError", "compile_regex"]

#: Longest accepted pattern, in characters.
MAX_PATTERN_LENGTH: Final = 2_000



@lru_cache(maxsize=1)
def _engine() -> tuple[Any, re2.Options]:
    """The RE2 binding and its options, loaded on the first pattern (a flow without one never pays)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line on stderr; the error is ours to report
    options.never_capture = True  # only "does it match" is asked: no groups to keep
    return re2, options


class RegexError(ValueError):
    """A pattern is invalid, too long, or uses a construct the linear-time engine lacks."""


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Callable[[str], bool]:
    """Compile ``pattern`` and return ``search(text) -> bool`` (a search, not a full match).

    The search runs in time linear in ``text``, whatever the pattern.

    Raises:
        RegexError: the pattern does not compile; the message says why (and suggests an
            alternative for backreferences and lookaround).
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"a regular expression is limited to {MAX_PATTERN_LENGTH} characters")
    engine, options = _engine()
    try:
        compiled = engine.compile(pattern, options)
    except engine.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        hint = ""
        if "invalid perl operator: (?" in text or ("invalid escape sequence: \\" in text and text[-1:].isdigit()):
            hint = " (the linear-time engine has no lookaround or backreferences)"
        raise RegexError(f"invalid regular expression: {text}{hint}") from None
    del compiled  # compiled only for its error message; matching goes through a one-pattern set:
    # RE2::Set's Match is one C call (about 0.9 µs), where the binding's search() builds a
    # generator and decodes offsets (2-6 µs per call).
    matcher = engine.Set.SearchSet(options)
    matcher.Add(pattern)
    matcher.Compile()
    match = matcher.Match

    def search(text: str) -> bool:
        return match(text) is not None

    return search
