from friends import views
from social.routes import route

# `users/friends/all` cannot be taken by `users/<uuid:user_id>`: the converter refuses "friends".
# Posts and chats add their own `users/<uuid:user_id>/…` routes (and posts the profile,
# `users/<uuid:user_id>`, which counts posts too); none overlaps these.
urlpatterns = [
    *route("users", views.UserSearchView.as_view(), name="users-search"),
    *route("users/friends/all", views.FriendsAllView.as_view(), name="friends-all"),
    *route("users/<uuid:user_id>/friends/<uuid:friend_id>", views.FriendCheckView.as_view(), name="friend-check"),
    *route("users/<uuid:user_id>/friends/add/<uuid:friend_id>", views.FriendAddView.as_view(), name="friend-add"),
    *route(
        "users/<uuid:user_id>/friends/remove/<uuid:friend_id>", views.FriendRemoveView.as_view(), name="friend-remove"
    ),
]
