from django.conf import settings
from django.core.management.base import BaseCommand

from notifications.services import notifications_prune


class Command(BaseCommand):
    help = "Delete read notifications older than NOTIFICATIONS_KEEP_DAYS (default 90). Run daily (cron)."

    def handle(self, *args, **options):
        deleted = notifications_prune(keep_days=settings.NOTIFICATIONS_KEEP_DAYS)
        self.stdout.write(f"{deleted} read notifications older than {settings.NOTIFICATIONS_KEEP_DAYS} days deleted")
