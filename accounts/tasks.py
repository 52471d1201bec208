"""Background work of the accounts app (django-tasks; `manage.py db_worker` runs it)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django_tasks import task

from accounts.models import User
from accounts.services import account_purge_step, password_reset_link

RESET_MAIL_SUBJECT = "Сброс пароля"


@task()
def password_reset_mail_send(user_id: str) -> None:
    """Send the password reset mail (plain text and HTML, in Russian) to a user.

    The token is made here, in the worker, when the mail is written: the queue holds only the
    user id. A user deleted or deactivated meanwhile gets nothing.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    context = {
        "username": user.username,
        "link": password_reset_link(user=user),
        "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
    }
    mail = EmailMultiAlternatives(
        subject=RESET_MAIL_SUBJECT,
        body=render_to_string("accounts/password_reset_mail.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    mail.attach_alternative(render_to_string("accounts/password_reset_mail.html", context), "text/html")
    mail.send()


@task()
def account_purge(user_id: str) -> None:
    """Remove what is left of an account its owner deleted (accounts.services.account_delete),
    in bounded steps, each its own short transaction, so a huge account never holds a long one
    (account_purge_step). Resumable: run again after a crash, it picks up where it stopped."""
    while account_purge_step(user_id=user_id):
        pass
