from django.core.management.base import BaseCommand

from moderation.services import KEEP_DAYS_AFTER_CLOSE, reports_prune


class Command(BaseCommand):
    help = (
        f"Delete reports closed more than {KEEP_DAYS_AFTER_CLOSE} days ago, with the copies of the "
        "images they kept. Open reports stay. Run daily (cron)."
    )

    def handle(self, *args, **options):
        deleted = reports_prune()
        self.stdout.write(f"{deleted} reports closed more than {KEEP_DAYS_AFTER_CLOSE} days ago deleted")
