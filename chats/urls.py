from chats import views
from social.routes import route

urlpatterns = [
    *route("chats", views.ChatListView.as_view(), name="chat-list"),
    *route("chats/<uuid:chat_id>", views.ChatDetailView.as_view(), name="chat-detail"),
    *route("chats/<uuid:chat_id>/members", views.ChatMembersView.as_view(), name="chat-members"),
    *route("chats/<uuid:chat_id>/members/<uuid:user_id>", views.ChatMemberView.as_view(), name="chat-member"),
    *route("chats/<uuid:chat_id>/messages", views.ChatMessageSendView.as_view(), name="chat-message-send"),
    *route("chats/<uuid:chat_id>/read", views.ChatReadView.as_view(), name="chat-read"),
    *route("chats/create", views.ChatCreateView.as_view(), name="chat-create"),
    *route("chats/<uuid:chat_id>/messages/<int:offset>", views.ChatMessagesView.as_view(), name="chat-messages"),
    *route("messages/<int:message_id>", views.MessageView.as_view(), name="message"),
    *route("users/<uuid:user_id>/chats", views.UserChatsView.as_view(), name="user-chats"),
]
