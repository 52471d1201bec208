from collections.abc import Mapping

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation import services
from moderation.serializers import ReportCreatedOutput, ReportInput
from social.schema import error_responses
from social.throttles import per_user

NOT_AN_OBJECT = "Ожидается JSON-объект."


class ReportsView(APIView):
    throttle_classes = [per_user("report")]

    @extend_schema(
        request=ReportInput,
        responses={
            201: ReportCreatedOutput,
            400: OpenApiResponse(description="Ошибки полей"),
            **error_responses(
                {
                    404: "Цель не найдена или никогда не была видна вызывающему (сообщение чужого чата, "
                    "неактивный пользователь)",
                    409: "Жалоба этого пользователя на эту цель уже открыта",
                }
            ),
        },
        description="Report a post, comment, message or user. The report keeps a snapshot of the target "
        "(its text and copies of its images) until 90 days after it is closed. Blocks do not matter.",
    )
    def post(self, request):
        if not isinstance(request.data, Mapping):
            raise ValidationError({"detail": [NOT_AN_OBJECT]})
        data = ReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_create(
            reporter=request.user,
            kind=data.validated_data["target"],
            target_id=data.validated_data["id"],
            reason=data.validated_data["reason"],
            text=data.validated_data["text"],
        )
        return Response(ReportCreatedOutput(report).data, status=status.HTTP_201_CREATED)
