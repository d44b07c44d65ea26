"""The glossary of agency terms and acronyms, and finding them in what practitioners write.

Reviews keep finding information that was passed on but read differently by the sender
and the receiver: "CP" read as child protection by social care and as cerebral palsy by
a paediatrician. This module holds the shipped list (``terms.toml``), merges a
deployment's own list over it (validated, with errors naming the term and the field),
and finds terms in a piece of text: a pure function, no store, no I/O beyond loading.

What ``find_terms`` reports for a text
    every glossary term it uses (with its plain meaning), flagging the ambiguous ones
    (terms with alternative meanings), and every ALL-CAPITALS token of 2 to 6 letters
    that is not in the glossary, not a common English word, not an agency id and not a
    name the record mentions (police records write SURNAMES in capitals) as unknown.
    These are warnings for the author, never reasons to refuse a record.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from graph.chronology import ChronologyLine
from ingest.schema import AgencyType

__all__ = [
    "Glossary",
    "GlossaryError",
    "Term",
    "TermHit",
    "find_terms",
    "load_glossary",
    "shipped_glossary",
    "terms_used",
]

_Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
_Meaning = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=400)]


def _matchable(form: str) -> None:
    """A form is words of letters and digits ("&", "." and "'" only inside a word),
    separated by spaces: what the matcher can find."""
    bad = [w for w in form.split() if not _TOKEN.fullmatch(w)]
    if bad:
        raise ValueError(f"{form!r} cannot be matched: use letters and digits, with & . or ' only inside a word")


class Alternative(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    meaning: _Meaning
    agencies: tuple[AgencyType, ...] = ()


class Term(BaseModel):
    """One term: its usual form, its plain meaning, who uses it, and its other meanings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    term: _Word
    meaning: _Meaning
    agencies: tuple[AgencyType, ...] = Field(min_length=1)
    forms: tuple[_Word, ...] = ()
    alternatives: tuple[Alternative, ...] = ()

    @field_validator("forms")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("lists a form twice")
        for form in v:
            _matchable(form)
        return v

    @field_validator("term")
    @classmethod
    def _term_matchable(cls, v: str) -> str:
        _matchable(v)
        return v

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives)

    def all_forms(self) -> tuple[str, ...]:
        return (self.term, *self.forms)


class GlossaryError(ValueError):
    """A glossary file that cannot be used: says which file, which term and which field."""

    def __init__(self, message: str, *, source: str, term: str | None = None, field: str | None = None) -> None:
        where = source + (f": term {term!r}" if term else "") + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.source, self.term, self.field = source, term, field


def _case_sensitive(form: str) -> bool:
    """A form with a capital letter in it ("CP", "ACEs", "Misper") matches only as
    written; a form in small letters ("s47", "section 47") matches in any case."""
    return any(c.isupper() for c in form)


# A word as the matcher sees it: letters and digits, with "&", "." or "'" inside it
# ("A&E", "s.47", "CP's"); a form of several words ("section 47") is matched word by word.
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9&.']*[A-Za-z0-9])?")
_PART = re.compile(r"[A-Za-z0-9]+")
_ALL_CAPS = re.compile(r"[A-Z]{2,6}")


# Capitals that are not jargon: English words written in capitals, and everyday abbreviations.
_COMMON_WORDS = (
    "A AN AM PM I OK UK TV ID IT IS IN ON OF OR TO AT BY NO SO UP US WE HE ME MY BE DO GO IF "
    "THE AND NOT FOR BUT ALL WAS ARE HAS HAD HIS HER SHE HIM YOU ANY CAN DID GET GOT NOW NEW "
    "OUT OLD OUR ONE TWO WHO WHY HOW YES MUM DAD SON TOLD SAID WITH THIS THAT FROM HAVE WILL "
    "BEEN WERE THEY THEM WHAT WHEN SEEN HOME CHILD NOTE URGENT PLEASE ONLY SHARE ALSO TELL FAMILY "
    "MR MRS MS MISS DR ST RD AVE "
    "JAN FEB MAR APR MAY JUN JUL AUG SEP SEPT OCT NOV DEC MON TUE WED THU FRI SAT SUN "
)
COMMON = frozenset(_COMMON_WORDS.split())


@dataclass(frozen=True)
class TermHit:
    """One term found in a text: where, as written, and what it means.

    ``kind`` is ``known`` (one meaning), ``ambiguous`` (the glossary lists other meanings;
    the author should say which) or ``unknown`` (capitals the glossary does not know).
    """

    term: str
    written: str
    start: int
    kind: Literal["known", "ambiguous", "unknown"]
    meaning: str | None
    alternatives: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()


class Glossary:
    """Terms by their usual form, with the two compiled matchers (capitals; any case)."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms: dict[str, Term] = {}
        for t in terms:
            self.terms[t.term] = t
        self._by_form: dict[str, Term] = {}
        self._by_folded: dict[str, Term] = {}
        # forms of several words, by their first word (folded): [(the words folded, term)]
        self._phrases: dict[str, list[tuple[tuple[str, ...], Term, bool]]] = {}
        for t in self.terms.values():
            for form in t.all_forms():
                words = form.split()
                strict = _case_sensitive(form)
                if len(words) > 1:
                    key = tuple(w if strict else w.lower() for w in words)
                    self._phrases.setdefault(words[0].lower(), []).append((key, t, strict))
                elif strict:
                    self._by_form[form] = t
                else:
                    self._by_folded[form.lower()] = t
        # words in small letters that can begin a term: the rest of such words are skipped
        self._lower_starts = frozenset(k for k in self._by_folded if k.isalpha()) | frozenset(
            k for k in self._phrases if k.isalpha() and k.islower()
        )
        for v in self._phrases.values():
            v.sort(key=lambda x: -len(x[0]))  # longest first
        self._caps_known = frozenset(self._by_form) | frozenset(f.upper() for f in self._by_folded)

    def __len__(self) -> int:
        return len(self.terms)

    def __contains__(self, term: object) -> bool:
        return term in self.terms

    def get(self, term: str) -> Term | None:
        return self.terms.get(term)

    def lookup(self, written: str) -> Term | None:
        """The term one word is a form of, by the matching rules (capitals match only in
        capitals; any other form in any case)."""
        return self._by_form.get(written) or self._by_folded.get(written.lower())

    def merged(self, extra: Iterable[Term]) -> Glossary:
        """This glossary with ``extra`` added; a term of the same name replaces ours."""
        return Glossary([*self.terms.values(), *extra])


def _parse(data: Mapping[str, Any], source: str) -> list[Term]:
    raw = data.get("term")
    unknown = sorted(set(data) - {"term"})
    if unknown:
        raise GlossaryError("a glossary file holds only [[term]] tables", source=source, field=unknown[0])
    if not isinstance(raw, list):
        raise GlossaryError("no [[term]] tables", source=source, field="term")
    out: list[Term] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        name = item.get("term") if isinstance(item, dict) else None
        label = str(name) if isinstance(name, str) else f"#{i + 1}"
        try:
            t = Term.model_validate(item)
        except ValidationError as exc:
            e = exc.errors()[0]
            field = ".".join(str(p) for p in e["loc"]) or "(term)"
            raise GlossaryError(e["msg"], source=source, term=label, field=field) from None
        if t.term in seen:
            raise GlossaryError("is listed twice in this file", source=source, term=t.term, field="term")
        seen.add(t.term)
        out.append(t)
    return out


def _read(path: Path | str, text: str | None = None) -> list[Term]:
    source = str(path)
    try:
        data = tomllib.loads(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GlossaryError("no such file", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise GlossaryError(f"not valid TOML ({exc})", source=source) from None
    return _parse(data, source)


@lru_cache(maxsize=1)
def shipped_glossary() -> Glossary:
    """The glossary that ships with Jigsaw (ingest/glossary/terms.toml)."""
    text = (resources.files("ingest.glossary") / "terms.toml").read_text(encoding="utf-8")
    return Glossary(_read("terms.toml", text))


def load_glossary(extra: Path | str | None = None) -> Glossary:
    """The shipped glossary, with a deployment's own file merged over it when given: its
    terms are added, and a term of the same name replaces the shipped one. A bad file is a
    ``GlossaryError`` naming the file, the term and the field."""
    base = shipped_glossary()
    if extra is None:
        return base
    return _cached_merge(str(Path(extra).resolve()), Path(extra).stat().st_mtime_ns if Path(extra).exists() else 0)


@lru_cache(maxsize=4)
def _cached_merge(path: str, _mtime: int) -> Glossary:
    return shipped_glossary().merged(_read(path))


def find_terms(
    text: str,
    glossary: Glossary | None = None,
    *,
    ignore: Iterable[str] = (),
) -> list[TermHit]:
    """Every glossary term and unknown capitalised token in ``text``, in order of place.

    ``ignore`` holds words that are not jargon in this record (the names of the people it
    mentions, agency ids): a capitalised token equal to one of them is not flagged.

    >>> [(h.term, h.kind) for h in find_terms("Strategy discussion: s47 agreed; CP plan. Seen by HV, QZX unclear.")]
    [('s47', 'known'), ('CP', 'ambiguous'), ('HV', 'ambiguous'), ('QZX', 'unknown')]
    >>> [h.term for h in find_terms("the cp file, section 47 enquiry, A&E at 2am")]
    ['s47', 'A&E']
    """
    g = glossary or shipped_glossary()
    skip = _Skip(ignore)
    tokens = [(m.start(), m.group(0)) for m in _TOKEN.finditer(text)]
    hits: list[TermHit] = []
    k = 0
    lower_starts = g._lower_starts
    while k < len(tokens):
        start, tok = tokens[k]
        if tok.islower() and tok.isalpha() and tok not in lower_starts:
            k += 1  # a word in small letters that begins no term: most words
            continue
        phrase = g._phrases.get(tok.lower())
        if phrase:
            found = _phrase_at(text, tokens, k, phrase)
            if found is not None:
                n, t = found
                end = tokens[k + n - 1][0] + len(tokens[k + n - 1][1])
                hits.append(_hit(t, text[start:end], start))
                k += n
                continue
        one = g.lookup(tok)
        if one is not None:
            hits.append(_hit(one, tok, start))
        elif any(c in tok for c in "&.'"):  # "CP's", "NFA.Then": look at each part
            for m in _PART.finditer(tok):
                hits += _word(g, text, m.group(0), start + m.start(), skip)
        else:
            hits += _word(g, text, tok, start, skip, known=False)
        k += 1
    return hits


def _hit(t: Term, written: str, start: int) -> TermHit:
    return TermHit(
        term=t.term,
        written=written,
        start=start,
        kind="ambiguous" if t.ambiguous else "known",
        meaning=t.meaning,
        alternatives=tuple(a.meaning for a in t.alternatives),
        agencies=tuple(str(a) for a in t.agencies),
    )


class _Skip:
    """The words of ``ignore`` in capitals, worked out only if a capitalised word needs them."""

    def __init__(self, ignore: Iterable[str]) -> None:
        self._ignore = ignore
        self._words: set[str] | None = None

    def __contains__(self, tok: str) -> bool:
        if self._words is None:
            self._words = {w.upper() for word in self._ignore for w in _PART.findall(word)}
        return tok in self._words


def _word(g: Glossary, text: str, tok: str, start: int, skip: _Skip, known: bool = True) -> list[TermHit]:
    """One word: a term (when ``known`` has not already been ruled out), or capitals the
    glossary does not know, or nothing."""
    t = g.lookup(tok) if known else None
    if t is not None:
        return [_hit(t, tok, start)]
    if (
        _ALL_CAPS.fullmatch(tok)
        and tok not in COMMON
        and tok not in skip
        and tok not in g._caps_known
        and not _shouting(text, start, start + len(tok))
    ):
        return [TermHit(term=tok, written=tok, start=start, kind="unknown", meaning=None)]
    return []


def _phrase_at(
    text: str, tokens: list[tuple[int, str]], k: int, phrases: list[tuple[tuple[str, ...], Term, bool]]
) -> tuple[int, Term] | None:
    """The longest form of several words starting at token ``k`` (words separated by
    spaces only), as (how many tokens, term)."""
    for words, t, strict in phrases:
        n = len(words)
        if k + n > len(tokens):
            continue
        got = tokens[k : k + n]
        if all((w if strict else w.lower()) == want for (_, w), want in zip(got, words, strict=True)) and all(
            text[a + len(w) : b].isspace() for (a, w), (b, _) in pairwise(got)
        ):
            return n, t
    return None


def _shouting(text: str, start: int, end: int) -> bool:
    """A token inside a run of capitalised words ("DO NOT TELL THE FAMILY") is emphasis,
    not an acronym: true when a neighbouring word is in capitals too and is a common word."""
    before = re.search(r"([A-Za-z]+)\W{1,3}$", text[max(0, start - 20) : start])
    after = re.match(r"\W{1,3}([A-Za-z]+)", text[end : end + 20])
    return any(w is not None and w.group(1).isupper() and w.group(1) in COMMON for w in (before, after))


def terms_used(texts: Iterable[str], glossary: Glossary | None = None) -> list[TermHit]:
    """Each distinct term the texts use, once, sorted by term: a "terms used" list for the
    end of a chronology, a meeting pack or an export (unknown tokens included, with no
    meaning, so a reader can ask)."""
    seen: dict[str, TermHit] = {}
    for text in texts:
        for h in find_terms(text, glossary):
            seen.setdefault(h.term, h)
    return sorted(seen.values(), key=lambda h: (h.term.lower(), h.term))


def line_terms(line: ChronologyLine, glossary: Glossary | None = None) -> list[TermHit]:
    """The terms a chronology line's words use (its summary and its sources' summaries),
    each once, in the order first used; none for a line held back."""
    if line.held_back:
        return []
    texts = [line.summary, *(s.summary for s in line.sources if s.summary and s.summary != line.summary)]
    seen: dict[str, TermHit] = {}
    for text in texts:
        for h in find_terms(text, glossary):
            seen.setdefault(h.term, h)
    return list(seen.values())


def lines_terms(lines: Iterable[ChronologyLine], glossary: Glossary | None = None) -> list[TermHit]:
    """Each term the lines use, once, sorted: the "terms used" list of a chronology."""
    seen: dict[str, TermHit] = {}
    for ln in lines:
        for h in line_terms(ln, glossary):
            seen.setdefault(h.term, h)
    return sorted(seen.values(), key=lambda h: (h.term.lower(), h.term))


def terms_cell(line: ChronologyLine, glossary: Glossary | None = None) -> str:
    """A line's "terms used" as one CSV cell: ``CP = Child protection… ; s47 = …``."""
    return " | ".join(f"{h.term} = {plain_words(h)}" for h in line_terms(line, glossary))


def term_dict(hit: TermHit) -> dict[str, Any]:
    """A term as JSON exports carry it."""
    return {"term": hit.term, "kind": hit.kind, "meaning": hit.meaning, "alternatives": list(hit.alternatives)}


def plain_words(hit: TermHit) -> str:
    """A term's meaning as one line for a table or a CSV cell."""
    if hit.kind == "unknown":
        return "Not in the glossary: ask the agency that wrote it what it means."
    text = hit.meaning or ""
    if hit.alternatives:
        text += " Elsewhere it can mean: " + "; ".join(hit.alternatives) + ". Check which was meant."
    return text


def names_in(doc: Mapping[str, Any]) -> list[str]:
    """Words in a fragment that are not jargon even in capitals: its people's names and
    descriptions, and agency ids."""
    out: list[str] = []
    ag = doc.get("agency") or {}
    if isinstance(ag, Mapping):
        out += [str(ag.get("id", "")), str(ag.get("name", ""))]
    for m in doc.get("people") or ():
        if not isinstance(m, Mapping):
            continue
        name = m.get("name")
        if isinstance(name, Mapping):
            out += [str(v) for v in name.values() if isinstance(v, str)]
        elif isinstance(name, str):
            out.append(name)
        for a in m.get("addresses") or ():
            if isinstance(a, Mapping) and a.get("postcode"):
                out.append(str(a["postcode"]))
    return out


def fragment_texts(doc: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    """(field, text) of a fragment's free-text fields, where terms are looked for."""
    ev = doc.get("event") or {}
    fields = ("summary", "narrative", "action_taken", "source_of_information")
    out = [(f"event.{k}", str(ev[k])) for k in fields if isinstance(ev, Mapping) and ev.get(k)]
    sup = doc.get("supersedes") or {}
    if isinstance(sup, Mapping) and sup.get("reason"):
        out.append(("supersedes.reason", str(sup["reason"])))
    return out
