"""Django's `changepassword`, ending the user's sessions with the new password.

Django's command asks and validates the password and saves it itself (no hook for the save);
the whole of it runs in one transaction that also ends every session of the user, as
`accounts.services.user_password_set` does for the admin. This app stands before
`django.contrib.auth` in INSTALLED_APPS so that this command replaces Django's.
"""

import getpass

from django.contrib.auth.management.commands import changepassword
from django.db import transaction

from accounts import services
from accounts.models import User


class Command(changepassword.Command):
    def handle(self, *args, **options):
        with transaction.atomic(using=options["database"]):
            result = super().handle(*args, **options)
            email = options["username"] or getpass.getuser()
            services.user_sessions_end(user=User._default_manager.using(options["database"]).get(email=email))
        return result
