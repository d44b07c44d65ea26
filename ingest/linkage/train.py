"""Learning the model's weights from the mentions themselves (no labelled pairs needed).

As Splink does: ``u`` from pairs drawn at random (nearly all of them different people),
``m`` by expectation-maximisation over pairs that share a blocking key. Each training
session blocks on some fields and so cannot learn those fields' ``m`` (every pair agrees
on them); two sessions block on different fields and each comparison takes its ``m``
from the session that did not block on it. Address blocks are deliberately not used: EM
on a household's pairs learns "same household", not "same person" (DESIGN.md).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from ingest.linkage.comparisons import COMPARISONS, levels
from ingest.linkage.features import Features
from ingest.linkage.model import ModelSettings, settings_from

Pattern = tuple[int, ...]
_NAMES = list(COMPARISONS)


def _by_dob(f: Features) -> str | None:
    return f.dob


def _by_name(f: Features) -> str | None:
    return f"{f.given_sound}|{f.family_sound}" if f.given_sound and f.family_sound else None


def _blocked_patterns(
    feats: Sequence[Features], key: Callable[[Features], str | None], rng: random.Random, cap: int
) -> Counter[Pattern]:
    blocks: dict[str, list[int]] = {}
    for i, f in enumerate(feats):
        k = key(f)
        if k:
            blocks.setdefault(k, []).append(i)
    out: Counter[Pattern] = Counter()
    for members in blocks.values():
        n = len(members)
        if n < 2:
            continue
        if n * (n - 1) // 2 <= cap:
            for x in range(n):
                for y in range(x + 1, n):
                    out[levels(feats[members[x]], feats[members[y]])] += 1
        else:  # a very common key: a sample of its pairs
            for _ in range(cap):
                x, y = rng.sample(members, 2)
                out[levels(feats[x], feats[y])] += 1
    return out


def _u_probabilities(feats: Sequence[Features], rng: random.Random, pairs: int) -> list[list[float]]:
    counts = [[1.0] * len(COMPARISONS[n][1]) for n in _NAMES]  # add-one: no level is impossible
    total = len(feats)
    for _ in range(pairs):
        a, b = rng.randrange(total), rng.randrange(total)
        if a == b:
            continue
        for k, lv in enumerate(levels(feats[a], feats[b])):
            counts[k][lv] += 1
    return [_normalise(c) for c in counts]


def _normalise(c: list[float]) -> list[float]:
    total = sum(c[1:])
    return [0.0, *(x / total for x in c[1:])]


def _em(
    patterns: Counter[Pattern], u: list[list[float]], m: list[list[float]], prior: float, rounds: int
) -> tuple[list[list[float]], float]:
    """Expectation-maximisation of m and the share of matches among the blocked pairs."""
    lam = prior
    total = sum(patterns.values())
    for _ in range(rounds):
        mc = [[1e-3] * len(row) for row in m]
        matched = 0.0
        for pat, count in patterns.items():
            pm, pu = lam, 1 - lam
            for k, lv in enumerate(pat):
                if lv:
                    pm *= m[k][lv]
                    pu *= u[k][lv]
            p = pm / (pm + pu) if pm + pu > 0 else 0.0
            w = p * count
            matched += w
            for k, lv in enumerate(pat):
                if lv:
                    mc[k][lv] += w
        m = [_normalise(row) for row in mc]
        lam = min(max(matched / total, 1e-6), 1 - 1e-6)
    return m, lam


def train(
    feats: Sequence[Features],
    *,
    version: str,
    upper: float = 0.99,
    lower: float = 0.5,
    seed: int = 0,
    u_pairs: int = 300_000,
    block_cap: int = 2_000,
    rounds: int = 25,
    start: ModelSettings | None = None,
) -> ModelSettings:
    """Settings learnt from ``feats`` (one per mention)."""
    if len(feats) < 100:
        raise ValueError(f"training needs at least 100 mentions with details, got {len(feats)}")
    rng = random.Random(seed)
    u = _u_probabilities(feats, rng, u_pairs)
    if start is not None:
        m0 = [[0.0, *(lv.m for lv in start.comparisons[n])] for n in _NAMES]
    else:  # a start that favours agreement: EM settles from there
        m0 = []
        for n in _NAMES:
            k = len(COMPARISONS[n][1]) - 1
            row = [0.0] + [0.5 / (2**i) for i in range(k)]
            row[-1] = 0.02
            m0.append(_normalise(row))
    by_dob = _blocked_patterns(feats, _by_dob, rng, block_cap)
    by_name = _blocked_patterns(feats, _by_name, rng, block_cap)
    m_dob, lam_dob = _em(by_dob, u, m0, 0.1, rounds)
    m_name, _ = _em(by_name, u, m0, 0.1, rounds)
    m: dict[str, list[float]] = {}
    uu: dict[str, list[float]] = {}
    for k, name in enumerate(_NAMES):
        # the dob session cannot learn dob (every pair agrees on it): that comes from
        # the name session, everything else from the dob session
        m[name] = (m_name if name == "dob" else m_dob)[k][1:]
        uu[name] = u[k][1:]
    # the prior: matches found among the dob-blocked pairs over all pairs
    total = len(feats)
    prior = min(max(lam_dob * sum(by_dob.values()) / (total * (total - 1) / 2), 1e-9), 0.5)
    return settings_from(version, prior, upper, lower, m, uu)
