"""Staff roles as Django groups. The data below is authoritative: `staff_groups_ensure()` (run after every
`migrate`) gives each group exactly these permissions, adding missing ones and removing any others.

Roles (cf. e-petitions' moderator / reviewer / sysadmin, split here by the work each team does):
- Moderators: moderate petitions (publish, reject, flag, dormant, restore, take down), edit petition details,
  review signatures, read the audit log.
- Reviewers: read petitions, rejections, the audit log, responses (and their revisions) and parliamentary
  business; change nothing.
  Not signatures: they hold signers' personal data, which reviewing petitions does not need.
- Response editors: write and publish government responses (and read their revisions) and consultations.
- Debate editors: record debates and other parliamentary business.
- Sysadmins: everything in the petitions, responses and debates apps, read-only users/groups, and the
  login-lockout records (to unlock someone). Only they see constituency alerts and their digests: alerts hold
  subscribers' email addresses, which no other role's work needs.

Model permissions cover the admin's pages; the moderation actions themselves check the role (group
membership) in `petitions.services.moderation` (`is_moderator`, `is_sysadmin`), since some of them (restoring
a rejected petition, removing one) are finer-grained than "change petition".
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction

MODERATORS = "Moderators"
REVIEWERS = "Reviewers"
RESPONSE_EDITORS = "Response editors"
DEBATE_EDITORS = "Debate editors"
SYSADMINS = "Sysadmins"

#: The apps whose models staff manage. Every model here must appear in SYSADMINS (a test checks it).
STAFF_APPS = ("petitions", "responses", "debates")
#: Other apps some groups get permissions in.
OTHER_APPS = ("auth", "axes")

_CRUD = ("add", "change", "delete", "view")


def _perms(app_label: str, actions, *model_names: str) -> list[str]:
    return [f"{app_label}.{action}_{model}" for model in model_names for action in actions]


STAFF_GROUPS: dict[str, list[str]] = {
    MODERATORS: [
        *_perms("petitions", ("view", "change"), "petition"),
        *_perms("petitions", ("view",), "signature"),
        *_perms("petitions", ("view", "add"), "rejection"),
        *_perms(
            "petitions",
            ("view",),
            "rejectionreason",
            "constituency",
            "country",
            "region",
            "department",
            "topic",
            "auditlog",
        ),
    ],
    REVIEWERS: [
        *_perms(
            "petitions",
            ("view",),
            "petition",
            "rejection",
            "rejectionreason",
            "auditlog",
            "department",
            "topic",
        ),
        *_perms("responses", ("view",), "governmentresponse", "governmentresponserevision", "consultation"),
        *_perms("debates", ("view",), "parliamentaryevent", "otherbusiness"),
    ],
    RESPONSE_EDITORS: [
        *_perms("petitions", ("view",), "petition", "department"),
        *_perms("responses", ("add", "change", "view"), "governmentresponse"),
        *_perms("responses", ("view",), "governmentresponserevision"),
        *_perms("responses", _CRUD, "consultation"),
        *_perms("petitions", ("view", "change"), "notice"),
    ],
    DEBATE_EDITORS: [
        *_perms("petitions", ("view",), "petition", "constituency", "department"),
        *_perms("debates", _CRUD, "parliamentaryevent", "otherbusiness"),
        *_perms("petitions", ("view", "change"), "notice"),
    ],
    SYSADMINS: [
        *_perms(
            "petitions",
            _CRUD,
            "country",
            "region",
            "constituency",
            "department",
            "topic",
            "sitesettings",
            "petition",
            "signature",
            "constituencypetitionjournal",
            "countrypetitionjournal",
            "petitionhourlycount",
            "rejectionreason",
            "rejection",
            "auditlog",
            "parliament",
            "dissolutionnotification",
            "emaildomainrule",
            "ratelimit",
            "signinglistentry",
            "trendingitem",
            "invalidation",
            "notice",
            "noticedelivery",
        ),
        # Revisions are read-only in the admin whatever the permissions (GovernmentResponseRevisionAdmin).
        *_perms("responses", _CRUD, "governmentresponse", "governmentresponserevision", "consultation"),
        *_perms("debates", _CRUD, "parliamentaryevent", "otherbusiness"),
        # Read-only in the admin whatever the permissions (debates/admin_alerts.py); alerts hold addresses.
        *_perms("debates", _CRUD, "constituencyalert", "alertdigest"),
        *_perms("auth", ("view",), "user", "group"),
        *_perms("axes", ("view", "delete"), "accessattempt"),
        *_perms("axes", ("view",), "accesslog", "accessfailurelog"),
    ],
}


class UnknownPermission(LookupError):
    pass


def staff_groups_ensure(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create or update the staff groups so each has exactly its listed permissions. Idempotent.

    Creates any missing content types and permissions first, so it works whatever order the apps'
    post_migrate handlers ran in. Returns {group name: number of permissions}.
    """
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for label in {*STAFF_APPS, *OTHER_APPS}:
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using)

    wanted = {perm for perms in STAFF_GROUPS.values() for perm in perms}
    labels = {perm.split(".", 1)[0] for perm in wanted}
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using)
        .filter(content_type__app_label__in=labels)
        .select_related("content_type")
    }
    missing = sorted(wanted - by_name.keys())
    if missing:
        raise UnknownPermission(f"staff_groups: unknown permissions {missing}")

    result = {}
    with transaction.atomic(using=using):
        for name, perms in STAFF_GROUPS.items():
            group, _ = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set([by_name[perm] for perm in perms])
            result[name] = len(set(perms))
    return result


def staff_groups_post_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    """post_migrate handler (connected in PetitionsConfig.ready).

    post_migrate is sent once per installed app; acting on the petitions app's signal is enough because
    `staff_groups_ensure` creates the responses/debates/auth permissions itself if they are not there yet.
    """
    if sender.name != "petitions":
        return
    from django.contrib.auth.models import Group, Permission

    if not router.allow_migrate_model(using, Group):
        return
    tables = set(connections[using].introspection.table_names())
    needed = {Permission._meta.db_table, Group._meta.db_table, Group.permissions.through._meta.db_table}
    if not needed <= tables:
        return  # auth is not migrated (e.g. `migrate auth zero`)
    staff_groups_ensure(using=using)
