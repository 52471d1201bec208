from rest_framework import serializers

from accounts.models import User
from accounts.serializers import AvatarUrlMixin

SEARCH_MAX_LENGTH = 150  # a username's own maximum: a longer prefix can match nobody


class SearchInput(serializers.Serializer):
    """`?search=` of people search. DRF's CharField also refuses NUL characters (400)."""

    search = serializers.CharField(min_length=1, max_length=SEARCH_MAX_LENGTH)


class FriendCheckOutput(serializers.Serializer):
    user_is_friend = serializers.BooleanField()


class ProfileOutput(AvatarUrlMixin, serializers.ModelSerializer):
    """A public profile: the author object plus counters, the viewer's friendship and presence."""

    avatar = serializers.SerializerMethodField()
    friends_count = serializers.IntegerField()
    posts_count = serializers.IntegerField()
    is_friend = serializers.BooleanField()
    online = serializers.BooleanField(
        allow_null=True,
        help_text="Shown for the caller themselves and for friends who share presence; null for everyone else.",
    )
    last_seen = serializers.DateTimeField(
        source="seen_at",
        allow_null=True,
        help_text="When their last socket closed; null while online, if never seen, or when not shown (as `online`).",
    )

    class Meta:
        model = User
        fields = ["id", "username", "avatar", "friends_count", "posts_count", "is_friend", "online", "last_seen"]
