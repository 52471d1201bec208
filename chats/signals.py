"""Domain signals of the chats app: how the apps above it (notifications) learn that users were
put in a chat. Sent inside the service's transaction, so the receivers' writes commit or roll
back with the membership."""

from django.dispatch import Signal

# `actor_id` put the users `user_ids` in the chat `chat_id` (created with them, or added later).
chat_members_added = Signal()
