import time

from django.core.management.base import BaseCommand

from petitions.demo import demo_data_load


class Command(BaseCommand):
    help = "Load reference data (geography, rejection reasons) and demo petitions. Safe to run again."

    def handle(self, *args, **options):
        started = time.monotonic()
        result = demo_data_load(stdout=self.stdout)
        self.stdout.write(
            f"Demo data ready: {result['petitions']} petitions, {result['signatures']:,} signatures "
            f"({result['created']} petitions created in {time.monotonic() - started:.1f}s)."
        )
