"""Language of a query (DESIGN.md: Query ``language``): an ISO 639-1 code detected by lingua.

The detector chooses only among the configured languages (``RELEVANCE_LANGUAGES``) and answers the
default language (``RELEVANCE_DEFAULT_LANGUAGE``) when it is not confident, as for numbers, product
codes and bare brands. lingua restricted to the languages in play was the most accurate detector on
short shopping queries; the measurement is in bench/RESULTS.md (``bench/langid.py``).

Example::

    >>> detect_language("zapatillas mujer")
    'es'
    >>> detect_languages(["kaffeemaschine mit mahlwerk", "12345"])
    ['de', 'en']
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from core import config
from core.errors import EmptyQueryError

# Fall back to the default language when the best language's confidence (lingua's values sum to 1 over
# the configured languages) is below this. Measured on bench/langid_probe.csv (160 queries, the 13
# default languages): accuracy is 144/160 for every threshold from 0 to 0.15 and falls from 0.16 (0.20:
# 142, 0.30: 135); the lowest correctly detected query scores 0.155 and uniform is 1/13 = 0.077, so 0.12
# drops only near-uniform answers. Codes and bare brands ("iphone 13" 0.22, "xbox" 0.29) score as high
# as real queries, so no threshold catches them; the vowel rule below catches the vowel-less ones.
MIN_CONFIDENCE = 0.12
# A prior for the catalog's main market: the default language wins unless another language is at least
# twice as likely. On the 160-query probe overall accuracy stays 0.900 (non-default languages 0.908 ->
# 0.887) while English demo queries detected as English rise from 0.866 to 0.941 (bench/RESULTS.md).
DEFAULT_PRIOR = 0.5
# Latin-script text none of whose letters is a vowel ("ps5", "xl", "65 4k", "qqqq") carries no language.
_VOWELS = frozenset("aeiouyàáâãäåæèéêëìíîïòóôõöøœùúûüýÿąęāăēėěīōőūůű")
# From this many texts on, use lingua's multi-threaded confidence API: on 2 cores it is no faster up to
# 160 texts; on 640-3,200 it is on par to 2x faster across runs, depending on whether the second core is
# idle (0.08 against 0.11 ms a query at 640 in the recorded run; bench/RESULTS.md).
PARALLEL_FROM = 256


class _Detector:
    """lingua restricted to ``languages``, answering ``default`` when not confident."""

    def __init__(self, languages: tuple[str, ...], default: str):
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        self.default = default
        codes = []
        for code in languages:
            iso = getattr(IsoCode639_1, code.upper(), None) if len(code) == 2 else None
            if iso is None:
                raise config.ConfigError(
                    f"RELEVANCE_LANGUAGES has {code!r}, which the language detector does not know; "
                    f"use ISO 639-1 codes such as en,es,de,ja")
            codes.append(iso)
        # lingua needs two languages to choose from; with one there is nothing to detect.
        self._only = languages[0] if len(set(languages)) == 1 else None
        # Models load lazily on the first text of a script (about 1.7 s for the Latin languages);
        # preloading all of them costs as long and 70 MB more (bench/RESULTS.md).
        self._lingua = None if self._only else LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def _decide(self, values) -> str:
        if not values or values[0].value <= values[1].value or values[0].value < MIN_CONFIDENCE:
            return self.default
        top = values[0].language.iso_code_639_1.name.lower()
        default_conf = next((v.value for v in values if v.language.iso_code_639_1.name.lower() == self.default), 0.0)
        return self.default if default_conf >= DEFAULT_PRIOR * values[0].value else top

    @staticmethod
    def _no_signal(text: str) -> bool:
        letters = [c for c in text.casefold() if c.isalpha()]
        return all(c <= "\u024f" for c in letters) and not any(c in _VOWELS for c in letters)

    def detect(self, texts: list[str]) -> list[str]:
        # lingua's cost grows faster than linearly on long repetitive text (1 MB of one letter: minutes); a
        # query's language shows in its first words, so only the first DETECT_CHARS characters are read
        texts = [t[:DETECT_CHARS] for t in texts]
        return [self.default if self._no_signal(t) else lang for t, lang in zip(texts, self._detect(texts))]

    def _detect(self, texts: list[str]) -> list[str]:
        if self._only:
            return [self._only] * len(texts)
        if len(texts) >= PARALLEL_FROM:
            return [self._decide(v) for v in self._lingua.compute_language_confidence_values_in_parallel(texts)]
        return [self._decide(self._lingua.compute_language_confidence_values(t)) for t in texts]


DETECT_CHARS = 300  # characters of a text the detector reads

_lock = threading.Lock()
_detector: _Detector | None = None


def _get_detector() -> _Detector:
    """The process-wide detector, built on first use from the current settings."""
    global _detector
    detector = _detector
    if detector is None:
        with _lock:
            if _detector is None:
                default = config.get("default_language").strip().lower()
                if not default:
                    raise config.ConfigError("RELEVANCE_DEFAULT_LANGUAGE is empty; set an ISO 639-1 code such as en")
                _detector = _Detector(config.languages(), default)
            detector = _detector
    return detector


def _reset_detector() -> None:
    """Forget the detector; the next call rebuilds it from the current settings (for tests)."""
    global _detector
    with _lock:
        _detector = None


def _checked(text: str, where: str = "") -> str:
    if text is not None and not isinstance(text, str):
        raise TypeError(f"query text must be a str{where}, got {type(text).__name__}")
    if text is None or not text.strip():
        raise EmptyQueryError(f"query text is empty{where}; give a non-empty query or a `language` column")
    return text.strip()


def detect_language(text: str) -> str:
    """The ISO 639-1 code (lower case) of ``text``, or the default language when not confident.

    Raises:
        EmptyQueryError (a ValueError): ``text`` is empty or only whitespace.
    """
    return _get_detector().detect([_checked(text)])[0]


def detect_languages(texts: Iterable[str]) -> list[str]:
    """``detect_language`` for many texts at once, in order; faster than a loop for large batches.

    Raises:
        EmptyQueryError (a ValueError): one of the texts is empty; nothing is detected.
    """
    cleaned = [_checked(t, f" (item {i} of the batch)") for i, t in enumerate(texts)]
    return _get_detector().detect(cleaned) if cleaned else []
