"""Presence: whether a user has an open socket, shown to their friends (EXTENSIONS.md §2, §8).

The state lives in Redis, shared by every process: one sorted set `presence:online` whose
members are user ids scored by when their presence expires (ms, Redis's clock). A process
keeps the users of its own open sockets in it (`chats.presence` refreshes them all in one
command every PRESENCE_REFRESH_SECONDS), so a process killed with SIGKILL leaves no one online
for longer than PRESENCE_TTL_SECONDS: the profile compares the score with Redis's clock, and
every process sweeps expired members (announcing them offline) on its own loop.

Every operation is one round trip (a Lua script: the check and its change are one atomic step,
so two processes can never both announce the same change), whatever the number of friends.
Announcing a change reads the friends from the database and who of them is online with one
more script.

A user goes offline `PRESENCE_GRACE_SECONDS` after their last socket closed, when by then no
socket of theirs holds a slot (`ws-sockets:<user>`, chats.consumers): a reconnect within that
time announces neither the offline nor the online.

Without Redis (`REDIS_URL` empty: one process) the same state is kept in this process. While
Redis fails, presence changes nothing and announces nothing, and profiles show `null`.
"""

import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from rest_framework import serializers

from accounts.models import User
from friends.models import Friendship
from social import events, limits

ONLINE_KEY = "presence:online"
SWEEP_BATCH = 500

# Redis clock in ms, shared by the scripts.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Open (first socket) or refresh: each user's presence expires ttl ms from now; returns the
# users who were not online (absent, or expired and not yet swept).
_KEEP = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
local fresh = {}
for i = 2, #ARGV do
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if (not old) or tonumber(old) <= now then
    table.insert(fresh, ARGV[i])
  end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
return fresh
"""
)

# The last socket of this process closed: the presence lasts ttl more, past the grace period.
_TOUCH = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# After the grace period: offline (1) when no socket of the user holds a slot anywhere.
_CLOSE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) > 0 then
  return 0
end
return redis.call('ZREM', KEYS[1], ARGV[1])
"""
)

# Expired members (a process that died, or paused past the ttl): removed, with their scores.
_SWEEP = (
    _NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
for i = 1, #expired, 2 do
  redis.call('ZREM', KEYS[1], expired[i])
end
return expired
"""
)

# Redis's clock, then each user's score (-1: none).
_SCORES = (
    _NOW
    + """
local out = {tostring(now)}
for i = 1, #ARGV do
  out[#out + 1] = redis.call('ZSCORE', KEYS[1], ARGV[i]) or '-1'
end
return out
"""
)


class _Local:
    """The same state in this process, when there is no Redis (one process)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.expiry: dict[str, float] = {}  # user id → wall-clock ms

    def run(self, script: str, args: list) -> object:
        now = time.time() * 1000
        with self.lock:
            if script is _KEEP:
                ttl, users = float(args[0]), args[1:]
                fresh = [user for user in users if self.expiry.get(user, 0) <= now]
                self.expiry.update(dict.fromkeys(users, now + ttl))
                return fresh
            if script is _TOUCH:
                if args[0] in self.expiry:
                    self.expiry[args[0]] = now + float(args[1])
                return 1
            if script is _CLOSE:
                # One process: its own count of open sockets (chats.presence) already said none.
                return 1 if self.expiry.pop(args[0], None) is not None else 0
            if script is _SWEEP:
                expired = [(user, at) for user, at in self.expiry.items() if at <= now][: int(args[0])]
                for user, _ in expired:
                    del self.expiry[user]
                return [value for pair in expired for value in pair]
            if script is _SCORES:
                return [now, *(self.expiry.get(user, -1) for user in args)]
        raise ValueError(script)


_local = _Local()


def _run(script: str, args: list, *, keys: tuple = ()) -> object | None:
    """The script's answer; None while Redis fails (the failure is logged once by limits)."""
    client = limits.redis_client()
    if client is None:
        return _local.run(script, args)
    if limits.redis_skipped():
        return None
    try:
        result = client.eval(script, 1 + len(keys), cache.make_key(ONLINE_KEY), *map(cache.make_key, keys), *args)
    except limits.REDIS_FAILURES as error:
        limits.outage("presence", error)
        return None
    limits.recovered()
    return result


def _ttl_ms() -> int:
    return int(settings.PRESENCE_TTL_SECONDS * 1000)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms_to_datetime(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- State changes (chats.presence calls these for the sockets of its process) ----------------
def presence_keep(*, user_ids: list) -> list[str]:
    """Mark `user_ids` online for PRESENCE_TTL_SECONDS more (a socket opened, or the refresh);
    return those of them who were offline until now."""
    if not user_ids:
        return []
    fresh = _run(_KEEP, [_ttl_ms(), *map(str, user_ids)])
    return [_text(user_id) for user_id in fresh or []]


def presence_touch(*, user_id) -> None:
    """The user's last socket on this process closed: keep their presence past the grace
    period, so no sweep announces them offline before the grace check does."""
    _run(_TOUCH, [str(user_id), _ttl_ms()])


def presence_close(*, user_id) -> bool:
    """After the grace period: the user goes offline unless a socket of theirs (on any process)
    holds a slot. True when they went offline now (the one caller to announce it)."""
    return bool(_run(_CLOSE, [str(user_id)], keys=(f"ws-sockets:{user_id}",)))


def presence_sweep() -> list[tuple[str, datetime]]:
    """Take out the users whose presence expired (their process died): (user id, last seen,
    i.e. their last refresh) for each, each returned to one caller only."""
    expired = _run(_SWEEP, [SWEEP_BATCH]) or []
    ttl = _ttl_ms()
    return [(_text(expired[i]), _ms_to_datetime(float(_text(expired[i + 1])) - ttl)) for i in range(0, len(expired), 2)]


def _scores(user_ids: list) -> tuple[float, list[float]] | None:
    """Redis's clock (ms) and each user's presence score (-1: none); None while Redis fails."""
    answer = _run(_SCORES, [str(user_id) for user_id in user_ids])
    if answer is None:
        return None
    return float(_text(answer[0])), [float(_text(score)) for score in answer[1:]]


def _timestamp(at: datetime | None) -> str | None:
    return serializers.DateTimeField().to_representation(at) if at is not None else None


def presence_announce(*, user_id, online: bool, last_seen: datetime | None = None) -> None:
    """Tell the user's online friends that they came online or went offline (a `presence`
    frame on their user sockets), unless the user does not share presence. Going offline also
    records `last_seen` (never moved back). Two queries and one Redis round trip."""
    if not online and last_seen is not None:
        earlier = Q(last_seen__isnull=True) | Q(last_seen__lt=last_seen)
        User.objects.filter(earlier, pk=user_id).update(last_seen=last_seen)
    if not User.objects.filter(pk=user_id, is_active=True, share_presence=True).exists():
        return
    friend_ids = list(Friendship.objects.filter(user_id=user_id).values_list("friend_id", flat=True))
    if not friend_ids:
        return
    scores = _scores(friend_ids)
    if scores is None:
        return
    now, friend_scores = scores
    online_friends = [friend for friend, score in zip(friend_ids, friend_scores, strict=True) if score > now]
    events.presence_changed(
        user_id=user_id,
        online=online,
        last_seen=None if online else _timestamp(last_seen),
        receiver_ids=online_friends,
    )


# --- Reads --------------------------------------------------------------------------------------
def presence_shown(*, user: User, viewer: User, is_friend: bool) -> tuple[bool | None, datetime | None]:
    """(online, last_seen) of `user` as `viewer` sees them: for a friend who shares presence,
    and for the viewer themselves whatever their setting; (None, None) for anyone else and while
    Redis fails. `last_seen` is None while online. Precondition: `user` was read with
    `share_presence` and `last_seen`. One Redis round trip when shown."""
    if user.pk != viewer.pk and not (is_friend and user.share_presence):
        return None, None
    scores = _scores([user.pk])
    if scores is None:
        return None, None
    now, (score,) = scores
    if score > now:
        return True, None
    last_seen = user.last_seen
    if score >= 0:
        # Expired but not swept yet (its process died): seen last at its last refresh.
        refreshed = _ms_to_datetime(score - _ttl_ms())
        last_seen = max(last_seen, refreshed) if last_seen is not None else refreshed
    return False, last_seen
