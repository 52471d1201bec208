from rest_framework import serializers


class BlockedOutput(serializers.Serializer):
    """The answer of blocking (`true`) and unblocking (`false`)."""

    blocked = serializers.BooleanField()
