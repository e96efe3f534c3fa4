"""Make sure a superuser exists and print how to log in (one line).

- Username: $ADMIN_USERNAME (default "admin"). Password: $ADMIN_PASSWORD if set (an existing user's
  password is reset to it).
- Without $ADMIN_PASSWORD, a new user gets a random password, kept in VAR_DIR/admin-password.txt (mode
  0600) so that re-runs print the same credentials. An existing user keeps their password; it is printed
  only if that file still holds it.
- The user is made an active superuser and put in the Sysadmins group.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from petitions.groups import SYSADMINS, staff_groups_ensure

CREDENTIALS_FILE = "admin-password.txt"


def _password_file() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE


def _stored_password() -> str:
    try:
        return _password_file().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _store_password(password: str) -> None:
    path = _password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)  # the file may have existed with looser permissions


class Command(BaseCommand):
    help = "Ensure a superuser exists ($ADMIN_USERNAME, $ADMIN_PASSWORD) and print the admin login."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME") or "admin"
        env_password = os.environ.get("ADMIN_PASSWORD") or ""

        with transaction.atomic():
            staff_groups_ensure()
            user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                password = env_password or _stored_password()
                if not password:
                    password = secrets.token_urlsafe(12)
                    _store_password(password)
                user = User._default_manager.create_superuser(
                    **{User.USERNAME_FIELD: username}, email="", password=password
                )
            else:
                if env_password:
                    user.set_password(env_password)
                    password = env_password
                else:
                    stored = _stored_password()
                    password = stored if stored and user.check_password(stored) else ""
                user.is_active = user.is_staff = user.is_superuser = True
                user.save()
            user.groups.add(Group.objects.get(name=SYSADMINS))

        shown = password or "(unchanged: the existing password was kept)"
        url = settings.SITE_URL.rstrip("/") + reverse("admin:index")
        self.stdout.write(f"Admin login: {url}  username: {username}  password: {shown}")
