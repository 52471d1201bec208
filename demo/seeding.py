"""Demo data written in bulk: users, friendships, posts with images, likes, views, chats.

Everything a run writes is new (fresh users with a run tag in their names), so a second run adds
data beside the first and never collides with it. Distributions have the long tail of a real
network: a few authors write most posts, a few posts get most likes, a few chats most messages.

On PostgreSQL the big tables go in through COPY (psycopg's `cursor.copy`, about twice as fast;
README "Performance and tuning"), elsewhere through `bulk_create` in batches (`--bulk-create`
forces it).
"""

import io
import random
import secrets
import time
import uuid
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, models, transaction

from accounts.models import User
from accounts.usernames import username_skeleton
from chats.models import Chat, ChatMember, Message
from friends.models import Friendship
from posts.models import SEED_FILES_PREFIX, Like, Post, PostImage, PostView
from posts.state import post_state_initial

# Every demo user signs in with this password (its Argon2 hash is computed once per run).
DEMO_PASSWORD = "demo-Parol-2026"
POOL_SIZE = 8
BATCH = 5000
WORDS = (
    "сегодня утро кофе город море горы друзья работа проект концерт книга фильм прогулка дождь "
    "солнце вечер код релиз кошка собака отпуск поезд музыка фото ужин праздник спорт бег"
).split()


@dataclass
class Counts:
    users: int = 0
    friendships: int = 0
    posts: int = 0
    images: int = 0
    likes: int = 0
    views: int = 0
    chats: int = 0
    members: int = 0
    messages: int = 0
    seconds: dict = field(default_factory=dict)


# --- the image pool ---------------------------------------------------------------------------
def _pool_image(index: int, size=(640, 480)) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(index)
    start = tuple(rng.randrange(40, 220) for _ in range(3))
    end = tuple(rng.randrange(40, 220) for _ in range(3))
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    width, height = size
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(start, end, strict=True)))
    for _ in range(6):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(20, 120)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


def image_pool(kind: str = "post", size: int = POOL_SIZE) -> list[str]:
    """Storage names of the pool, uploaded once (an existing name is reused, never re-uploaded)."""
    names = []
    for index in range(size):
        name = f"{SEED_FILES_PREFIX}{kind}-{index}.jpg"  # never deleted with a post
        if not default_storage.exists(name):
            offset = 0 if kind == "post" else 100
            pixels = (640, 480) if kind == "post" else (128, 128)
            saved = default_storage.save(name, ContentFile(_pool_image(index + offset, pixels)))
            assert saved == name, saved
        names.append(name)
    return names


# --- bulk writing -------------------------------------------------------------------------------
def _columns(model, names):
    return [model._meta.get_field(name).column for name in names]


def write_rows(model, names: list[str], rows, *, copy: bool = True) -> int:
    """Insert `rows` (tuples in the order of the field `names`): COPY on PostgreSQL unless
    `copy` is off, `bulk_create` in batches of BATCH otherwise."""
    count = 0
    if copy and connection.vendor == "postgresql":
        # Columns we do not name get their field's default, as bulk_create would give them:
        # Django keeps defaults in Python, not in the table, so COPY must send them.
        named = {model._meta.get_field(name).column for name in names}
        rest = [
            f
            for f in model._meta.concrete_fields
            if f.column not in named and not (f.primary_key and isinstance(f, models.AutoField))
        ]
        tail = tuple(f.get_default() for f in rest)
        columns = ", ".join(f'"{c}"' for c in _columns(model, names) + [f.column for f in rest])
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as stream:
                for row in rows:
                    stream.write_row(row + tail)
                    count += 1
        return count
    attnames = [model._meta.get_field(name).attname for name in names]
    batch = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row, strict=True))))
        if len(batch) == BATCH:
            model.objects.bulk_create(batch)
            count += len(batch)
            batch = []
    model.objects.bulk_create(batch)
    return count + len(batch)


# --- distributions ------------------------------------------------------------------------------
def long_tail_weights(n: int, exponent: float = 1.0, offset: float = 2.0) -> list[float]:
    """Zipf-like weights of n ranks, shuffled so the popular ones are not the first rows."""
    weights = [1.0 / (rank + offset) ** exponent for rank in range(n)]
    random.shuffle(weights)
    return weights


def spread(total: int, weights: list[float], cap: int) -> list[int]:
    """Split `total` into len(weights) integers proportional to the weights, none above `cap`."""
    total = min(total, cap * len(weights))
    if total <= 0:
        return [0] * len(weights)
    scale = total / sum(weights)
    counts = [min(cap, int(w * scale)) for w in weights]
    missing = total - sum(counts)
    cumulative = list(accumulate(weights))
    while missing > 0:
        index = min(len(weights) - 1, bisect_left(cumulative, random.random() * cumulative[-1]))
        if counts[index] < cap:
            counts[index] += 1
            missing -= 1
        elif all(c >= cap for c in counts):
            break
    return counts


def _text(low: int, high: int) -> str:
    return " ".join(random.choices(WORDS, k=random.randint(low, high))).capitalize()


def _moment(after: datetime, now: datetime) -> datetime:
    return after + (now - after) * random.random()


# --- the seed -----------------------------------------------------------------------------------
def seed(
    *,
    users: int,
    posts: int,
    likes: int,
    views: int = 0,
    chats: int = 0,
    messages: int = 0,
    friends_per_user: int = 10,
    days: int = 90,
    use_copy: bool = True,
    log=lambda text: None,
) -> Counts:
    """Write one run of demo data; returns what was written and how long each part took."""
    counts = Counts()
    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    tag = secrets.token_hex(3)

    def write(model, names, rows):
        return write_rows(model, names, rows, copy=use_copy)

    def timed(part, function):
        began = time.perf_counter()
        result = function()
        counts.seconds[part] = round(time.perf_counter() - began, 2)
        log(f"{part}: {result} rows in {counts.seconds[part]} s")
        return result

    began = time.perf_counter()
    post_pool = image_pool("post")
    avatar_pool = image_pool("avatar")
    counts.seconds["pool"] = round(time.perf_counter() - began, 2)

    password = make_password(DEMO_PASSWORD)  # one Argon2 hash for every demo user
    user_ids = [uuid.uuid4() for _ in range(users)]
    joined = [_moment(start, now) for _ in range(users)]

    with transaction.atomic():
        counts.users = timed("users", lambda: _users(write, user_ids, joined, tag, password, avatar_pool))
        counts.friendships = timed("friendships", lambda: _friendships(write, user_ids, friends_per_user, start, now))
        post_rows, like_counts, view_counts = _posts_plan(user_ids, posts, likes, views, start, now)
        counts.posts = timed("posts", lambda: _posts(write, post_rows, like_counts, view_counts))
        counts.images = timed("images", lambda: _images(write, post_rows, post_pool))
        counts.likes = timed(
            "likes",
            lambda: write(Like, ["post", "user", "created_at"], _reactions(post_rows, like_counts, user_ids, now)),
        )
        counts.views = timed(
            "views",
            lambda: write(
                PostView,
                ["post", "viewer", "created_at"],
                _reactions(post_rows, view_counts, user_ids, now, skip_author=True),
            ),
        )
        if chats and users >= 2:
            counts.chats, counts.members, counts.messages = timed(
                "chats", lambda: _chats(write, user_ids, chats, messages, start, now)
            )
    if connection.vendor == "postgresql":
        # Fresh planner statistics: right after a bulk load, autovacuum has not analyzed the
        # tables yet, and stale row estimates turn the feed's likers query into a parallel hash
        # join over every user (README "Performance and tuning").
        tables = [User, Friendship, Post, PostImage, Like, PostView, Chat, ChatMember, Message]
        timed("analyze", lambda: _analyze(tables))
    return counts


def _analyze(models_) -> int:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(f'"{model._meta.db_table}"' for model in models_))
    return len(models_)


def _users(write, user_ids, joined, tag, password, avatar_pool) -> int:
    """Users named after the run's tag, every other one with an avatar from the pool."""
    return write(
        User,
        ["id", "password", "email", "username", "username_skeleton", "avatar", "date_joined"],
        (
            (
                user_id,
                password,
                f"demo-{tag}-{i}@demo.example",
                f"demo_{tag}_{i}",
                username_skeleton(f"demo_{tag}_{i}"),
                random.choice(avatar_pool) if i % 2 == 0 else "",
                joined[i],
            )
            for i, user_id in enumerate(user_ids)
        ),
    )


def _posts(write, post_rows, like_counts, view_counts) -> int:
    """The planned posts, with the counters (and the popularity) of the reactions planned for them."""
    return write(
        Post,
        ["id", "author", "description", "created_at", *STATE_FIELDS],
        (
            (pid, author, _text(3, 40), created, *_post_state(created, like_counts[i], view_counts[i]))
            for i, (pid, author, created) in enumerate(post_rows)
        ),
    )


def _images(write, post_rows, post_pool) -> int:
    """1–4 images from the pool per post (shared files, never deleted with a post)."""
    return write(
        PostImage,
        ["post", "file", "position"],
        (
            (pid, name, position)
            for pid, _, _ in post_rows
            for position, name in enumerate(random.sample(post_pool, random.randint(1, 4)))
        ),
    )


def _friendships(write, user_ids, per_user, start, now) -> int:
    """Mutual friendships, long-tailed (a few users have many friends): two rows each."""
    n = len(user_ids)
    if n < 2 or per_user <= 0:
        return 0
    weights = long_tail_weights(n, exponent=0.8)
    cumulative = list(accumulate(weights))
    pairs = set()
    target = min(n * per_user // 2, n * (n - 1) // 2)
    attempts = 0
    while len(pairs) < target and attempts < target * 20:
        attempts += 1
        a = random.randrange(n)
        b = min(n - 1, bisect_left(cumulative, random.random() * cumulative[-1]))
        if a != b:
            pairs.add((min(a, b), max(a, b)))

    def rows():
        for a, b in pairs:
            created = _moment(start, now)
            yield (user_ids[a], user_ids[b], created)
            yield (user_ids[b], user_ids[a], created)

    return write(Friendship, ["user", "friend", "created_at"], rows())


# A seeded post's counters come with their rows (`_reactions` writes exactly that many), and
# its popularity from them, through the owner of a post's state.
STATE_FIELDS = ["likes_count", "views_count", "hot_score"]


def _post_state(created_at, likes, views) -> list:
    state = post_state_initial(created_at=created_at, likes=likes, views=views)
    return [state[name] for name in STATE_FIELDS]


def _posts_plan(user_ids, posts, likes, views, start, now):
    author_weights = long_tail_weights(len(user_ids), exponent=1.1)
    authors = random.choices(user_ids, weights=author_weights, k=posts)
    post_rows = [(uuid.uuid4(), author, _moment(start, now)) for author in authors]
    popularity = long_tail_weights(posts, exponent=0.9, offset=5)
    like_counts = spread(likes, popularity, cap=len(user_ids))
    view_counts = spread(views, popularity, cap=max(0, len(user_ids) - 1)) if views else [0] * posts
    return post_rows, like_counts, view_counts


def _reactions(post_rows, counts, user_ids, now, skip_author=False):
    """(post, user, created_at) rows: `counts[i]` distinct users for post i."""
    n = len(user_ids)
    for (pid, author, created), k in zip(post_rows, counts, strict=True):
        if not k:
            continue
        chosen = random.sample(range(n), min(n, k + 1 if skip_author else k))
        taken = 0
        for index in chosen:
            user_id = user_ids[index]
            if skip_author and user_id == author:
                continue
            if taken == k:
                break
            taken += 1
            yield (pid, user_id, _moment(created, now))


def _chats(write, user_ids, chats, messages, start, now):
    """Chats of 2–50 members (a few big ones), messages long-tailed over them."""
    chat_rows = []
    for i in range(chats):
        size = min(len(user_ids), 50, 1 + int(random.paretovariate(1.3)) if i % 10 else random.randint(20, 50))
        members = random.sample(user_ids, size)
        created = _moment(start, now)
        chat_rows.append((uuid.uuid4(), f"Демо-чат {i + 1}", "", created, members))
    plan = spread(messages, long_tail_weights(chats, exponent=1.0), cap=messages or 1)
    last, written = {}, {}

    def message_rows():
        for (cid, _, _, created, members), k in zip(chat_rows, plan, strict=True):
            moments = sorted(_moment(created, now) for _ in range(k))
            for moment in moments:
                yield (cid, random.choice(members), _text(1, 25), moment)
            if moments:
                last[cid], written[cid] = moments[-1], len(moments)

    # Messages first (in memory) so each chat's counter and last_message_at are known when the
    # chat is written: the state chats.services.chat_counters_move keeps from then on.
    planned = list(message_rows())
    write(
        Chat,
        ["id", "title", "avatar", "created_at", "last_message_at", "messages_count"],
        (
            (cid, title, avatar, created, last.get(cid), written.get(cid, 0))
            for cid, title, avatar, created, _ in chat_rows
        ),
    )
    member_count = write(
        ChatMember,
        ["chat", "user", "joined_at"],
        ((cid, member, created) for cid, _, _, created, members in chat_rows for member in members),
    )
    message_count = write(Message, ["chat", "user", "text", "created_at"], planned)
    return len(chat_rows), member_count, message_count
