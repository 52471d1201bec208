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

# A user asked for their data (`GET /api/auth/export`). Sent with `user_id`; each receiver
# returns an `accounts.export.ExportPart`: its sections of data.json and its stored files,
# read lazily while the archive streams.
user_exporting = Signal()
