from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation.models import REPORT_TEXT_MAX_LENGTH, Report
from moderation.selectors import INVALID_TARGET_ID


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "uuid"}, {"type": "integer", "minimum": 1}],
        "description": "The post, comment or user UUID; a message's integer id.",
    }
)
class TargetIdField(serializers.Field):
    """A target's id as the client sends it: a UUID string, or a message's integer id (as a
    number or its digits). Which one the kind needs is checked with the target."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise serializers.ValidationError(INVALID_TARGET_ID)
        return data

    def to_representation(self, value):
        return value


class ReportInput(serializers.Serializer):
    """`{"target", "id", "reason", "text"?}` (EXTENSIONS.md §5)."""

    target = serializers.ChoiceField(choices=Report.Target.choices)
    id = TargetIdField()
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    text = serializers.CharField(max_length=REPORT_TEXT_MAX_LENGTH, required=False, allow_blank=True, default="")


class ReportCreatedOutput(serializers.Serializer):
    """`{id, status}` of a new report (its status is "open")."""

    id = serializers.IntegerField()
    # A new report is always open; its later statuses are the moderators' (the admin).
    status = serializers.ChoiceField(choices=[(Report.Status.OPEN.value, Report.Status.OPEN.label)])
