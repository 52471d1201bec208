from moderation import views
from social.routes import route

urlpatterns = [
    *route("reports", views.ReportsView.as_view(), name="reports"),
]
