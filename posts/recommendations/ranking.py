"""The ranking of a walk: pure functions of the candidates' facts (no database, no cache), so
every rule of the score and of the author spread has plain unit tests (posts/tests/test_ranking.py).
"""

import heapq
import math
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings


@dataclass(frozen=True)
class Facts:
    """What the score needs of one candidate post."""

    post_id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
    popularity: float  # posts.scores.popularity of its counters
    seen: bool  # the caller has viewed or liked it


@dataclass(frozen=True)
class Signals:
    """A viewer's candidates and the social signals over them (posts.recommendations.candidates)."""

    viewer_id: uuid.UUID
    facts: list[Facts]
    friends: frozenset = field(default_factory=frozenset)
    friend_liked: dict = field(default_factory=dict)  # post id → friends who liked it
    similar: dict = field(default_factory=dict)  # post id → co-likers who liked it


@dataclass(frozen=True)
class Weights:
    """The score's settings (social/settings.py, README "Recommended feed")."""

    friend: float
    friend_liked: float
    similar: float
    popular: float
    fresh: float
    half_life_hours: float
    own_penalty: float
    seen_penalty: float

    @classmethod
    def from_settings(cls) -> "Weights":
        return cls(
            friend=settings.RECO_WEIGHT_FRIEND,
            friend_liked=settings.RECO_WEIGHT_FRIEND_LIKED,
            similar=settings.RECO_WEIGHT_SIMILAR,
            popular=settings.RECO_WEIGHT_POPULAR,
            fresh=settings.RECO_WEIGHT_FRESH,
            half_life_hours=settings.RECO_HALF_LIFE_HOURS,
            own_penalty=settings.RECO_OWN_PENALTY,
            seen_penalty=settings.RECO_SEEN_PENALTY,
        )


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
    score: float


def _share(value: float, top: float) -> float:
    return math.log1p(value) / math.log1p(top) if top > 0 else 0.0


def candidates_rank(signals: Signals, *, weights: Weights, now: datetime) -> list[Candidate]:
    """Every candidate, best first (ties: newer first, then by id)."""
    top_friend_liked = max(signals.friend_liked.values(), default=0)
    top_similar = max(signals.similar.values(), default=0)
    top_popular = max((facts.popularity for facts in signals.facts), default=0)
    ranked = []
    for facts in signals.facts:
        signal = (
            weights.friend * (facts.author_id in signals.friends)
            + weights.friend_liked * _share(signals.friend_liked.get(facts.post_id, 0), top_friend_liked)
            + weights.similar * _share(signals.similar.get(facts.post_id, 0), top_similar)
            + weights.popular * _share(facts.popularity, top_popular)
            + weights.fresh
        )
        age_hours = max((now - facts.created_at).total_seconds() / 3600, 0.0)
        score = signal * 0.5 ** (age_hours / weights.half_life_hours)
        if facts.author_id == signals.viewer_id:
            score *= weights.own_penalty
        elif facts.seen:
            score *= weights.seen_penalty
        ranked.append(Candidate(facts.post_id, facts.author_id, facts.created_at, score))
    ranked.sort(key=lambda c: (-c.score, -c.created_at.timestamp(), c.post_id.hex))
    return ranked


def authors_spread(ranked: list[Candidate], *, window: int, cap: int) -> list[uuid.UUID]:
    """The ranked post ids, reordered so that no `window` consecutive posts hold more than
    `cap` posts of one author; a page of `window` posts thus shows at most `cap` of each.

    Greedy: each position takes the best remaining post whose author is under the cap in the
    last `window - 1` positions. A post held back keeps its rank and comes as soon as its
    author is allowed again. When only capped authors remain (the tail of a walk dominated by
    one author), the best of them goes anyway: held back, never dropped.
    """
    if cap >= window:
        return [c.post_id for c in ranked]
    queues: dict = {}
    for rank, candidate in enumerate(ranked):
        queues.setdefault(candidate.author_id, deque()).append((rank, candidate.post_id))
    heads = [(queue[0][0], author) for author, queue in queues.items()]  # each author's best rank
    heapq.heapify(heads)
    recent: deque = deque()
    in_window: Counter = Counter()
    order = []
    while heads:
        held_back = []
        chosen = None
        while heads:
            head = heapq.heappop(heads)
            if in_window[head[1]] < cap:
                chosen = head
                break
            held_back.append(head)
        if chosen is None:
            chosen = held_back.pop(0)  # popped best-first: the best of the capped authors
        for head in held_back:
            heapq.heappush(heads, head)
        author = chosen[1]
        queue = queues[author]
        order.append(queue.popleft()[1])
        if queue:
            heapq.heappush(heads, (queue[0][0], author))
        recent.append(author)
        in_window[author] += 1
        if len(recent) >= window:
            in_window[recent.popleft()] -= 1
    return order
