from safety import views
from social.routes import route

# `users/blocked` cannot be taken by `users/<uuid:user_id>` (posts' profile): the converter
# refuses "blocked".
urlpatterns = [
    *route("users/blocked", views.BlockedListView.as_view(), name="users-blocked"),
    *route("users/<uuid:user_id>/block", views.BlockView.as_view(), name="user-block"),
]
