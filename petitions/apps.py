from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PetitionsConfig(AppConfig):
    name = "petitions"
    verbose_name = "Petitions"

    def ready(self):
        from .groups import staff_groups_post_migrate

        # No sender filter: the handler acts on the petitions app's signal only (see its docstring).
        post_migrate.connect(staff_groups_post_migrate, dispatch_uid="petitions.staff_groups_post_migrate")
