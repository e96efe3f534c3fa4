from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from petitions.services import petitions_close_expired


def parse_now(value: str) -> datetime:
    """An ISO 8601 date and time; without an offset it is London time."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--now must be an ISO 8601 date and time, for example 2026-03-01T00:01:00+00:00 (got {value!r})."
        ) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Close every open petition whose deadline has passed; closed_at is set to the petition's deadline."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-8601",
            help="Close as if it were this time (default: now). Without an offset the time is London time.",
        )

    def handle(self, *args, now: str | None = None, **options):
        moment = parse_now(now) if now is not None else timezone.now()
        closed = petitions_close_expired(now=moment)
        self.stdout.write(f"Closed {closed} petition{'' if closed == 1 else 's'}.")
