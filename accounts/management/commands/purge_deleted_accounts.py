"""Finish the purge of every deleted account still present (cron, or after a worker crash).

`accounts.tasks.account_purge` runs once per deletion; a worker killed in the middle of it
leaves the task marked running and the account half removed (each step either committed or
rolled back whole). This command runs the same purge, in the same steps, for every account
deleted more than `--older-than` seconds ago whose row is still there, so it picks up where
the worker stopped; for an account already gone it does nothing.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import User
from accounts.tasks import account_purge


class Command(BaseCommand):
    help = "Finish removing accounts their owners deleted (resumes an interrupted purge)."

    def add_arguments(self, parser):
        # The worker normally finishes within minutes: leave it the running ones.
        parser.add_argument("--older-than", type=int, default=3600, help="seconds since the deletion (default 3600)")

    def handle(self, *args, older_than, **options):
        deleted_before = timezone.now() - timedelta(seconds=older_than)
        left = User.objects.filter(deleted_at__lte=deleted_before).values_list("pk", flat=True)
        finished = 0
        for user_id in left.iterator():
            account_purge.call(user_id=str(user_id))
            finished += 1
        self.stdout.write(f"purged {finished} deleted accounts")
