import factory
from django.db.models import F, Value
from django.utils import timezone

from accounts.tests.factories import UserFactory
from posts.models import Like, Post, PostImage, PostView
from posts.scores import hot_score, hot_score_expression


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    description = factory.Sequence(lambda n: f"Пост номер {n}")
    created_at = factory.LazyFunction(timezone.now)
    # As post_create sets it: the recommended feed's candidates are found by it.
    hot_score = factory.LazyAttribute(lambda post: hot_score(created_at=post.created_at))


class PostImageFactory(factory.django.DjangoModelFactory):
    """A row naming a file that need not exist: enough for URLs and query counts."""

    class Meta:
        model = PostImage

    post = factory.SubFactory(PostFactory)
    file = factory.Sequence(lambda n: f"posts/factory/{n}.jpg")
    position = factory.Sequence(lambda n: n % 10)


class LikeFactory(factory.django.DjangoModelFactory):
    """A like row with its counter (and the post's hot score) kept in step, as the service does."""

    class Meta:
        model = Like
        skip_postgeneration_save = True

    post = factory.SubFactory(PostFactory)
    user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def count(like, create, extracted, **kwargs):  # noqa: N805 - factory_boy passes the instance
        if create:
            count = Like.objects.filter(post_id=like.post_id).count()
            Post.objects.filter(pk=like.post_id).update(
                likes_count=count, hot_score=hot_score_expression(likes=Value(count)), rev=F("rev") + 1
            )


class PostViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PostView

    post = factory.SubFactory(PostFactory)
    viewer = factory.SubFactory(UserFactory)
