"""Splink (5.x, DuckDB backend) side of the entity-resolution benchmark.

    /tmp/venv/bin/python bench/linkage_splink.py

prints Splink's pairwise precision / recall / F1 and wall time on FEBRL3 (dedupe) and
FEBRL4 (two-file link), so Jigsaw's own Fellegi-Sunter matcher can be set beside it.

The model follows Splink's own FEBRL demos (docs/demos/examples/duckdb/febrl3 and febrl4):

* comparisons: ``NameComparison`` (exact + Jaro-Winkler 0.92 / 0.88 / 0.7, term-frequency
  adjusted) for given name and surname; ``DateOfBirthComparison`` on the raw FEBRL
  ``YYYYMMDD`` string (exact, Levenshtein <= 1, within 1 month / 1 year / 10 years);
  Damerau-Levenshtein <= 1 / 2 on soc_sec_id and postcode; exact street number and state
  (TF adjusted); Jaro-Winkler on address_1 and suburb.
* prior: ``estimate_probability_two_random_records_match`` from deterministic rules
  (same soc_sec_id, or same given name + surname + dob) at an assumed recall of 0.8.
* u: ``estimate_u_using_random_sampling(max_pairs=1e7, seed=...)`` (reproducible).
* m: two EM sessions, blocked on dob and on postcode, without TF (as in the demos), so
  every comparison is trained at least once.
* prediction blocking: the union of (given_name, surname), swapped names, (surname, dob),
  (given_name, dob), (soc_sec_id), (postcode, street_number), (street_number, address_1),
  (state, address_1).
* clustering: connected components over pairs with match probability >= 0.99, the
  threshold Splink's FEBRL4 demo clusters at (match weight ~6.6; a conservative choice:
  one false edge can chain two people together, and in safeguarding a false merge is the
  costlier error).

The wall time in ``SplinkResult.seconds`` covers everything Splink does: creating the
DuckDB connection and registering the tables, training (prior, u, EM), predicting and
clustering, and reading the cluster ids back. Data loading and scoring are excluded.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.linkage_data import load_febrl3, load_febrl4, pairwise_scores

DEFAULT_THRESHOLD = 0.99
FEBRL_COMPARISON_COLUMNS: tuple[str, ...] = (
    "given_name",
    "surname",
    "dob",
    "soc_sec_id",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "state",
)
PEOPLE_COLUMNS: tuple[str, ...] = ("given_name", "surname", "dob", "sex", "nhs", "upn", "postcode", "address")


@dataclass
class SplinkResult:
    clusters: dict[str, str]  # unique_id -> Splink cluster id
    seconds: float  # wall time: register + train + predict + cluster
    threshold: float  # match probability at or above which pairs are joined
    n_candidate_pairs: int  # pairs produced by the prediction blocking rules (all scored)
    prior: float = 0.0  # estimated probability_two_random_records_match
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage


@dataclass(frozen=True)
class _Rule:
    """A blocking rule with the logical columns it needs (dropped when one is absent)."""

    needs: tuple[str, ...]
    rule: Any  # a BlockingRuleCreator or an SQL string


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Splink's logger and Python warnings for the duration of a run."""
    splink_logger = logging.getLogger("splink")
    old_level, old_propagate = splink_logger.level, splink_logger.propagate
    splink_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        splink_logger.setLevel(old_level)
        splink_logger.propagate = old_propagate


def _arrow(df: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """Every column as a nullable string, so all-null columns still have a type DuckDB can compare."""
    data = {c: [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[c]] for c in columns}
    return pa.table(data, schema=pa.schema([(c, pa.string()) for c in columns]))


def _run(
    tables: list[pa.Table],
    *,
    link_type: Literal["dedupe_only", "link_only"],
    available: set[str],
    comparisons: list[tuple[str, Any]],
    prediction_rules: list[_Rule],
    deterministic_rules: list[_Rule],
    em_rules: list[_Rule],
    threshold: float,
    prior_recall: float,
    u_max_pairs: float,
    seed: int,
    source_column: str | None,
) -> SplinkResult:
    def usable(rules: list[_Rule]) -> list[Any]:
        return [r.rule for r in rules if all(n in available for n in r.needs)]

    chosen = [c for name, c in comparisons if name in available]
    blocking = usable(prediction_rules)
    if not chosen or not blocking:
        raise ValueError(f"no usable comparisons/blocking rules for columns {sorted(available)}")
    stages: dict[str, float] = {}
    with _quiet():
        t0 = time.perf_counter()
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            db_api = DuckDBAPI(connection=con)
            sdfs = [db_api.register(t, dataset_display_name=f"input_{i}") for i, t in enumerate(tables)]
            settings = SettingsCreator(
                link_type=link_type,
                unique_id_column_name="unique_id",
                source_dataset_column_name=source_column or "source_dataset",
                comparisons=chosen,
                blocking_rules_to_generate_predictions=blocking,
                retain_matching_columns=False,
                retain_intermediate_calculation_columns=False,
            )
            linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings, log_level=None)
            t = time.perf_counter()
            stages["setup"] = t - t0

            deterministic = usable(deterministic_rules)
            if deterministic:
                linker.training.estimate_probability_two_random_records_match(deterministic, recall=prior_recall)
            linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
            for rule in usable(em_rules)[:2]:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True
                )
            prior = float(linker._settings_obj._probability_two_random_records_match)
            stages["train"] = time.perf_counter() - t
            t = time.perf_counter()

            predictions = linker.inference.predict(warning_mode="never")
            n_pairs = int(predictions.query_sql("select count(*) as n from {this}").as_record_list()[0]["n"])
            stages["predict"] = time.perf_counter() - t
            t = time.perf_counter()

            clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
                predictions, threshold_match_probability=threshold
            )
            rows = clustered.query_sql("select unique_id, cluster_id from {this}").as_record_list()
            clusters = {str(r["unique_id"]): str(r["cluster_id"]) for r in rows}
            stages["cluster"] = time.perf_counter() - t
            seconds = time.perf_counter() - t0
        finally:
            con.close()
    return SplinkResult(
        clusters=clusters, seconds=seconds, threshold=threshold, n_candidate_pairs=n_pairs, prior=prior, stages=stages
    )


def _febrl_comparisons() -> list[tuple[str, Any]]:
    return [
        ("given_name", cl.NameComparison("given_name").configure(term_frequency_adjustments=True)),
        ("surname", cl.NameComparison("surname").configure(term_frequency_adjustments=True)),
        # the raw YYYYMMDD string: a typo that makes an impossible date ("19561304") keeps its
        # exact / Levenshtein-1 evidence; the date-difference levels parse with try_strptime
        # and simply don't fire for it (invalid_dates_as_null=False keeps it out of the null level)
        (
            "dob",
            cl.DateOfBirthComparison(
                "dob_raw", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=False
            ),
        ),
        ("soc_sec_id", cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2])),
        ("street_number", cl.ExactMatch("street_number").configure(term_frequency_adjustments=True)),
        ("address_1", cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8])),
        ("suburb", cl.JaroWinklerAtThresholds("suburb", [0.9]).configure(term_frequency_adjustments=True)),
        ("postcode", cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True)),
        ("state", cl.ExactMatch("state").configure(term_frequency_adjustments=True)),
    ]


_FEBRL_PREDICTION_RULES = [
    _Rule(("given_name", "surname"), block_on("given_name", "surname")),
    _Rule(("given_name", "surname"), "l.given_name = r.surname and l.surname = r.given_name"),
    _Rule(("surname", "dob"), block_on("surname", "dob_raw")),
    _Rule(("given_name", "dob"), block_on("given_name", "dob_raw")),
    _Rule(("soc_sec_id",), block_on("soc_sec_id")),
    _Rule(("postcode", "street_number"), block_on("postcode", "street_number")),
    _Rule(("street_number", "address_1"), block_on("street_number", "address_1")),
    _Rule(("state", "address_1"), block_on("state", "address_1")),
]
_FEBRL_DETERMINISTIC_RULES = [
    _Rule(("soc_sec_id",), block_on("soc_sec_id")),
    _Rule(("given_name", "surname", "dob"), block_on("given_name", "surname", "dob_raw")),
]
_FEBRL_EM_RULES = [
    _Rule(("dob",), block_on("dob_raw")),
    _Rule(("postcode",), block_on("postcode")),
    _Rule(("given_name", "surname"), block_on("given_name", "surname")),
]


def run_splink(
    df: pd.DataFrame,
    *,
    link_type: Literal["dedupe_only", "link_only"],
    columns: Sequence[str] = FEBRL_COMPARISON_COLUMNS,
    threshold: float = DEFAULT_THRESHOLD,
    prior_recall: float = 0.8,
    u_max_pairs: float = 1e7,
    seed: int = 42,
) -> SplinkResult:
    """Train, predict and cluster a FEBRL-shaped frame (see ``linkage_data``) with Splink.

    ``columns`` picks which of ``FEBRL_COMPARISON_COLUMNS`` the model may use (comparisons and
    blocking rules on other columns are dropped), so Splink can be held to the same fields as
    the matcher it is compared with. "dob" means the raw ``dob_raw`` string. For ``link_only``
    the frame is split on ``source`` into one Splink input table per source.
    """
    unknown = set(columns) - set(FEBRL_COMPARISON_COLUMNS)
    if unknown:
        raise ValueError(f"unknown FEBRL columns {sorted(unknown)}")
    physical = ["unique_id", *(("dob_raw" if c == "dob" else c) for c in columns)]
    if link_type == "link_only":
        physical.insert(1, "source")
        sources = sorted(df["source"].dropna().unique())
        if len(sources) < 2:
            raise ValueError("link_only needs at least two values in 'source'")
        tables = [_arrow(df[df["source"] == s], physical) for s in sources]
    else:
        tables = [_arrow(df, physical)]
    return _run(
        tables,
        link_type=link_type,
        available=set(columns),
        comparisons=_febrl_comparisons(),
        prediction_rules=_FEBRL_PREDICTION_RULES,
        deterministic_rules=_FEBRL_DETERMINISTIC_RULES,
        em_rules=_FEBRL_EM_RULES,
        threshold=threshold,
        prior_recall=prior_recall,
        u_max_pairs=u_max_pairs,
        seed=seed,
        source_column="source" if link_type == "link_only" else None,
    )


def _norm_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = re.sub(r"[^\w ]+", " ", str(value).lower())
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _norm_code(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = re.sub(r"\s+", "", str(value)).upper()
    return text or None


def _norm_postcode(value: Any) -> str | None:
    """UK style: upper case with one space before the inward code ("qs75jg" -> "QS7 5JG")."""
    code = _norm_code(value)
    if code is None:
        return None
    return f"{code[:-3]} {code[-3:]}" if len(code) >= 5 else code


def _norm_dob(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()[:10]
    return text or None


_PEOPLE_PREDICTION_RULES = [
    _Rule(("given_name", "surname"), block_on("given_name", "surname")),
    _Rule(("given_name", "surname"), "l.given_name = r.surname and l.surname = r.given_name"),
    _Rule(("surname", "dob"), block_on("surname", "dob")),
    _Rule(("given_name", "dob"), block_on("given_name", "dob")),
    _Rule(("nhs",), block_on("nhs")),
    _Rule(("upn",), block_on("upn")),
    _Rule(("postcode", "dob"), block_on("postcode", "dob")),
    _Rule(("postcode", "given_name"), block_on("postcode", "given_name")),
]
_PEOPLE_DETERMINISTIC_RULES = [
    _Rule(("nhs",), block_on("nhs")),
    _Rule(("upn",), block_on("upn")),
    _Rule(("given_name", "surname", "dob"), block_on("given_name", "surname", "dob")),
]
_PEOPLE_EM_RULES = [
    _Rule(("dob",), block_on("dob")),
    _Rule(("postcode",), block_on("postcode")),
    _Rule(("surname",), block_on("surname")),
    _Rule(("given_name", "surname"), block_on("given_name", "surname")),
]


def run_splink_people(
    df: pd.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    prior_recall: float = 0.8,
    u_max_pairs: float = 1e7,
    seed: int = 42,
) -> SplinkResult:
    """Dedupe Jigsaw-style person records with Splink.

    ``df`` has ``unique_id, given_name, surname, dob, sex, nhs, upn, postcode, address`` (and
    usually ``true_id``, which is ignored); any value may be None and any column may be absent
    or entirely null, in which case its comparison and blocking rules are dropped. Values are
    normalised first (names / address lower case without punctuation, identifiers without
    spaces, postcodes upper case "AB1 2CD", dob the first 10 characters of an ISO date).
    Comparisons: names with NameComparison (exact + Jaro-Winkler, TF adjusted), dob with
    DateOfBirthComparison on the ISO string, exact sex / NHS number / UPN, PostcodeComparison
    (exact, sector, district, area) and Jaro-Winkler on the address text.
    """
    norm = {
        "given_name": _norm_text,
        "surname": _norm_text,
        "dob": _norm_dob,
        "sex": _norm_text,
        "nhs": _norm_code,
        "upn": _norm_code,
        "postcode": _norm_postcode,
        "address": _norm_text,
    }
    prepared = pd.DataFrame({"unique_id": [str(u) for u in df["unique_id"]]})
    available: set[str] = set()
    for col, fn in norm.items():
        values = [fn(v) for v in df[col]] if col in df.columns else [None] * len(df)
        prepared[col] = pd.Series(values, dtype=object)
        if any(v is not None for v in values):
            available.add(col)
    comparisons: list[tuple[str, Any]] = [
        ("given_name", cl.NameComparison("given_name").configure(term_frequency_adjustments=True)),
        ("surname", cl.NameComparison("surname").configure(term_frequency_adjustments=True)),
        (
            "dob",
            cl.DateOfBirthComparison(
                "dob", input_is_string=True, datetime_format="%Y-%m-%d", invalid_dates_as_null=False
            ),
        ),
        ("sex", cl.ExactMatch("sex")),
        ("nhs", cl.ExactMatch("nhs")),
        ("upn", cl.ExactMatch("upn")),
        ("postcode", cl.PostcodeComparison("postcode")),
        ("address", cl.JaroWinklerAtThresholds("address", [0.95, 0.88])),
    ]
    return _run(
        [_arrow(prepared, ["unique_id", *PEOPLE_COLUMNS])],
        link_type="dedupe_only",
        available=available,
        comparisons=comparisons,
        prediction_rules=_PEOPLE_PREDICTION_RULES,
        deterministic_rules=_PEOPLE_DETERMINISTIC_RULES,
        em_rules=_PEOPLE_EM_RULES,
        threshold=threshold,
        prior_recall=prior_recall,
        u_max_pairs=u_max_pairs,
        seed=seed,
        source_column=None,
    )


def main() -> None:
    datasets = [("FEBRL3", load_febrl3(), "dedupe_only"), ("FEBRL4", load_febrl4(), "link_only")]
    print(f"{'dataset':<8} {'records':>7} {'pairs':>8} {'prior':>9} {'P':>7} {'R':>7} {'F1':>7} {'seconds':>8}")
    for name, df, link_type in datasets:
        res = run_splink(df, link_type=link_type)  # type: ignore[arg-type]
        truth = dict(zip(df["unique_id"], df["true_id"], strict=True))
        sources = dict(zip(df["unique_id"], df["source"], strict=True)) if link_type == "link_only" else None
        s = pairwise_scores(res.clusters, truth, link_only_sources=sources)
        print(
            f"{name:<8} {len(df):>7} {res.n_candidate_pairs:>8} {res.prior:>9.2e} {s['precision']:>7.4f} "
            f"{s['recall']:>7.4f} {s['f1']:>7.4f} {res.seconds:>8.2f}   "
            f"(threshold {res.threshold}; tp {s['tp']} fp {s['fp']} fn {s['fn']}; "
            + ", ".join(f"{k} {v:.2f}s" for k, v in res.stages.items())
            + ")"
        )


if __name__ == "__main__":
    main()
