from django.core.management.base import BaseCommand

from posts.models import Post
from posts.state import post_state_rescore


class Command(BaseCommand):
    help = (
        "Recompute every post's hot_score (the recommended feed's popularity) from its counters. "
        "Needed after RECO_VIEW_WEIGHT or RECO_HALF_LIFE_HOURS change; likes and views keep it "
        "current by themselves."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size: int, **options):
        # Batches by primary key: each UPDATE holds its row locks briefly, so likes and views
        # arriving meanwhile wait for one batch, not for the whole table.
        updated = 0
        last = None
        while True:
            posts = Post.objects.order_by("pk")
            if last is not None:
                posts = posts.filter(pk__gt=last)
            ids = list(posts.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            updated += post_state_rescore(posts=Post.objects.filter(pk__in=ids))
            last = ids[-1]
        self.stdout.write(f"Refreshed the hot score of {updated} posts.")
