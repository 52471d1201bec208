from posts import views
from social.routes import route

urlpatterns = [
    # The contract's path for creating a post, and the alias that reads like the rest.
    *route("auth/create", views.PostCreateView.as_view(), name="post-create"),
    *route("posts/create", views.PostCreateView.as_view(), name="post-create-alias"),
    *route("posts/all", views.FeedView.as_view(), name="post-feed"),
    *route("posts/recommended", views.RecommendedView.as_view(), name="post-recommended"),
    *route("posts/<uuid:post_id>", views.PostDetailView.as_view(), name="post-detail"),
    *route("posts/<uuid:post_id>/like/<uuid:user_id>", views.PostLikeView.as_view(), name="post-like"),
    *route("posts/<uuid:post_id>/comments", views.PostCommentsView.as_view(), name="post-comments"),
    *route("posts/<uuid:post_id>/comments/<uuid:comment_id>", views.PostCommentView.as_view(), name="post-comment"),
    *route("posts/<uuid:post_id>/likes", views.PostLikersView.as_view(), name="post-likers"),
    *route("users/<uuid:user_id>/posts", views.UserPostsView.as_view(), name="user-posts"),
    # The public profile counts friends and posts: served here, where both are known (posts
    # may ask friends; friends knows nothing of posts).
    *route("users/<uuid:user_id>", views.ProfileView.as_view(), name="user-profile"),
]
