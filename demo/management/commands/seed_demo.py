"""`python manage.py seed_demo --users N --posts N --likes N [--messages N] [--chats N]`

Adds realistic demo data in bulk (demo/seeding.py). Safe to run again: every run adds new users
and their data. Every demo user's password is demo.seeding.DEMO_PASSWORD.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from demo.seeding import DEMO_PASSWORD, seed
from social.db import statements_unbounded


class Command(BaseCommand):
    help = "Add demo users, friendships, posts with images, likes, views, chats and messages in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, required=True)
        parser.add_argument("--posts", type=int, required=True)
        parser.add_argument("--likes", type=int, required=True)
        parser.add_argument("--views", type=int, default=0)
        parser.add_argument("--chats", type=int, default=None, help="default: users // 20")
        parser.add_argument("--messages", type=int, default=0)
        parser.add_argument("--friends", type=int, default=10, help="average friends per user")
        parser.add_argument(
            "--bulk-create", action="store_true", help="bulk_create in batches instead of COPY (for comparison)"
        )

    def handle(self, *args, **options):
        if min(options["users"], options["posts"], options["likes"], options["views"], options["messages"]) < 0:
            raise CommandError("Counts cannot be negative.")
        if options["users"] < 1 and (options["posts"] or options["likes"]):
            raise CommandError("Posts and likes need at least one user.")
        chats = options["chats"] if options["chats"] is not None else options["users"] // 20
        began = time.perf_counter()
        # One COPY per table: long statements, which the bound on requests' statements would cut.
        with statements_unbounded():
            counts = seed(
                users=options["users"],
                posts=options["posts"],
                likes=options["likes"],
                views=options["views"],
                chats=chats,
                messages=options["messages"],
                friends_per_user=options["friends"],
                use_copy=not options["bulk_create"],
                log=lambda text: self.stdout.write(f"  {text}") if options["verbosity"] > 1 else None,
            )
        total = time.perf_counter() - began
        pool = counts.seconds.get("pool", 0.0)
        self.stdout.write(
            f"seeded {counts.users} users, {counts.friendships} friendship rows, {counts.posts} posts, "
            f"{counts.images} images, {counts.likes} likes, {counts.views} views, {counts.chats} chats, "
            f"{counts.members} members, {counts.messages} messages in {total:.1f} s "
            f"({total - pool:.1f} s without the image pool); password: {DEMO_PASSWORD}"
        )
