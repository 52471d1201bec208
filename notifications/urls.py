from notifications import views
from social.routes import route

urlpatterns = [
    *route("notifications", views.NotificationsView.as_view(), name="notifications"),
    *route("notifications/unread_count", views.UnreadCountView.as_view(), name="notifications-unread-count"),
    *route("notifications/read", views.MarkReadView.as_view(), name="notifications-read"),
]
