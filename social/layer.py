"""Channel-layer group membership that survives a Redis hiccup."""

import asyncio
import logging

from social.outages import is_outage

logger = logging.getLogger(__name__)

# Seconds between attempts: a burst of disconnects (a proxy restart drops every socket at once)
# can find the pool full or Redis restarting for a moment.
DISCARD_RETRY_DELAYS = (0.1, 0.5, 2.0)


async def layer_groups_discard(layer, groups, channel: str) -> None:
    """Take `channel` out of every group, retrying each failed discard: a member left behind
    stays in the group for channels_redis's group_expiry (a day), and every event to the group
    is sent to the dead channel meanwhile."""
    for group in groups:
        for delay in (*DISCARD_RETRY_DELAYS, None):
            try:
                await layer.group_discard(group, channel)
                break
            except Exception as error:
                if not is_outage(error):
                    raise
                if delay is None:
                    logger.warning("could not leave group %s: %s: %s", group, type(error).__name__, error)
                    break
                await asyncio.sleep(delay)
