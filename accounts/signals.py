"""Domain signals of the accounts app: how the apps above it learn of an account change.

`accounts` knows no domain app. When one must react (a post shows its author's name; a deleted
user's likes hold up counters), the accounts service sends one of these explicit signals, and
the app connects its receiver in its `AppConfig.ready()`. They are sent inside the service's
transaction, so the receivers' writes commit or roll back with the account change. (Not
`post_save`: it fires on every save, a login's `last_login` included.)
"""

from django.dispatch import Signal

# A user's username, email or avatar changed: whatever shows them must be refreshed.
# Sent with `user_id`.
user_shown_fields_changed = Signal()

# A user is about to be deleted; their rows go by cascade right after. Receivers take back
# what the cascade alone would leave wrong (counters, stored files). Sent with `user_id`.
user_deleting = Signal()

# A deleted account is being removed in bounded steps (accounts.services.account_purge_step),
# each a short transaction of its own holding the user's row. Sent with `user_id` and `limit`:
# each receiver removes at most `limit` rows of one kind it owns for that user (the first kind
# it still has), moving in the same transaction whatever counts them (counters on others' posts
# and chats), and returns how many rows it removed, 0 once nothing of theirs is left. The rows they leave to the user's
# own deletion at the end are the cascade's (sessions, and the models no app purges).
user_purging = Signal()

# A user asked for their data (`GET /api/auth/export`). Sent with `user_id`; each receiver
# returns an `accounts.export.ExportPart`: its sections of data.json and its stored files,
# read lazily while the archive streams.
user_exporting = Signal()
