from django.http import JsonResponse
from django.urls import path


def floor(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("floor", floor)]
