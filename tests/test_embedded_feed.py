"""The post lists on the embedded default (SQLite, `make run`): their page and likers
queries have ORM versions there, since PostgreSQL gets hand-written SQL (posts/selectors.py).
The rest of the suite runs on PostgreSQL, so this drives them in a subprocess."""

import json
import os
import subprocess
import sys

from tests.test_settings import SERVICE_VARIABLES
from testsupport.live import ROOT

FEED_ON_SQLITE = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from accounts.services import session_start
from posts.models import Like, Post

setup_test_environment()
call_command("migrate", verbosity=0)
viewer, author, *likers = [User.objects.create_user(username=f"u{n}", email=f"u{n}@example.com") for n in range(5)]
now = timezone.now()
posts = [
    Post.objects.create(author=author, description=str(n), created_at=now - timedelta(minutes=n)) for n in range(3)
]
Post.objects.create(author=viewer, description="viewer's", created_at=now - timedelta(hours=1))
for minutes, liker in enumerate(likers):
    Like.objects.create(post=posts[0], user=liker, created_at=now - timedelta(seconds=minutes))
Like.objects.create(post=posts[1], user=viewer)
client = Client(HTTP_AUTHORIZATION="Bearer " + session_start(user=viewer).access)
first = client.get("/api/posts/all?limit=2")
nxt = first.headers["Link"].split(">")[0].lstrip("<")
second = client.get(nxt)
mine = client.get(f"/api/users/{author.pk}/posts")
# The like toggle, its notification and the recommended page have ORM versions here too.
author_client = Client(HTTP_AUTHORIZATION="Bearer " + session_start(user=author).access)
like_path = f"/api/posts/{posts[2].pk}/like/{viewer.pk}"
liked = client.patch(like_path)
notified = author_client.get("/api/notifications")
unliked = client.patch(like_path)
withdrawn = author_client.get("/api/notifications")
recommended = client.get("/api/posts/recommended")
print(json.dumps({
    "liked": [liked.status_code, liked.json()["likes_count"], liked.json()["liked_by_me"]],
    "notified": [[n["type"], n["actor"]["username"]] for n in notified.json()],
    "unliked": [unliked.status_code, unliked.json()["likes_count"], unliked.json()["liked_by_me"]],
    "withdrawn": withdrawn.json(),
    "recommended": recommended.status_code,
    "first": [[p["description"], p["liked_by_me"], [l["username"] for l in p["likes"]]] for p in first.json()],
    "second": [p["description"] for p in second.json()],
    "last_link": "Link" in second.headers,
    "mine": [p["description"] for p in mine.json()],
    "recent_likers": [u.username for u in likers],
}))
"""


def test_feed_pages_likers_user_posts_and_like_toggles_on_the_embedded_default(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="social.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        POST_LIKES_EMBEDDED="2",
    )
    result = subprocess.run(
        [sys.executable, "-c", FEED_ON_SQLITE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Newest first, two per page; the two most recent likers only; the viewer's own like.
    assert seen["first"] == [["0", False, seen["recent_likers"][:2]], ["1", True, ["u0"]]]
    assert seen["second"] == ["2", "viewer's"] and seen["last_link"] is False
    assert seen["mine"] == ["0", "1", "2"]
    assert seen["liked"] == [200, 1, True] and seen["unliked"] == [200, 0, False]
    assert seen["notified"] == [["post.liked", "u0"]] and seen["withdrawn"] == []
    assert seen["recommended"] == 200
