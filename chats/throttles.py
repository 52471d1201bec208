"""The REST side of the per-user message flood bucket (`chats.services.message_flood_take`), which
the sockets take too: a message counts once whichever way it arrives. A refused send is 429
`{"detail"}` with `Retry-After` (DRF's Throttled, through social.errors), like every other limit."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from chats import services
from social import metrics


class MessageFloodThrottle(BaseThrottle):
    scope = "chat_message"  # the label the sockets' refusals are counted under too

    def allow_request(self, request, view) -> bool:
        if services.message_flood_take(user_id=request.user.pk):
            return True
        metrics.RATE_LIMIT_REFUSALS.labels(self.scope).inc()
        return False

    def wait(self) -> float:
        # The bucket refills one token every 1/rate seconds (DRF rounds Retry-After up to 1 s).
        return 1 / settings.CHAT_MESSAGE_RATE
