"""Staff roles: a real user in each group, the admin pages they may open (200) or not (403), and the
moderation services each role may or may not use."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    STAFF_GROUPS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import AuditLog, PetitionState, Rejection, RejectionReason, SiteSettings
from petitions.services import (
    NotAllowed,
    is_moderator,
    is_sysadmin,
    petition_flag,
    petition_lock,
    petition_mark_dormant,
    petition_publish,
    petition_reject,
    petition_remove,
    petition_restore,
    petition_take_down,
)

from .factories import PetitionFactory, ValidatedSignatureFactory
from .test_admin import form_data

pytestmark = pytest.mark.django_db

S = PetitionState
ROLES = [SYSADMINS, MODERATORS, REVIEWERS, RESPONSE_EDITORS, DEBATE_EDITORS]


def make_staff(group_name: str) -> User:
    staff_groups_ensure()
    user = User.objects.create_user(group_name.lower().replace(" ", "_"), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def login(client):
    def as_role(group_name):
        user = make_staff(group_name)
        client.force_login(user)
        return client, user

    return as_role


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


# What each role gets from a GET, page by page (200, or 403 for no permission).
PAGES = {
    "petitions_petition_changelist": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 200,
        RESPONSE_EDITORS: 200,
        DEBATE_EDITORS: 200,
    },
    "petitions_petition_moderate": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_petition_delete": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_signature_changelist": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_rejection_changelist": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 200,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_rejection_add": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_auditlog_changelist": {
        SYSADMINS: 200,
        MODERATORS: 200,
        REVIEWERS: 200,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_sitesettings_change": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "petitions_rejectionreason_add": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "responses_governmentresponse_changelist": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 200,
        RESPONSE_EDITORS: 200,
        DEBATE_EDITORS: 403,
    },
    "responses_governmentresponse_add": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 200,
        DEBATE_EDITORS: 403,
    },
    "debates_parliamentaryevent_changelist": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 200,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 200,
    },
    "debates_parliamentaryevent_add": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 200,
    },
    "axes_accessattempt_changelist": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
    "auth_user_changelist": {
        SYSADMINS: 200,
        MODERATORS: 403,
        REVIEWERS: 403,
        RESPONSE_EDITORS: 403,
        DEBATE_EDITORS: 403,
    },
}
PAGE_TABLE = [(page, role, status) for page, by_role in PAGES.items() for role, status in by_role.items()]


@pytest.mark.parametrize(("page", "role", "status"), PAGE_TABLE)
def test_admin_pages_per_role(login, page, role, status):
    client, _ = login(role)
    petition = PetitionFactory(state=S.SPONSORED)
    args = {
        "petitions_petition_moderate": [petition.pk],
        "petitions_petition_delete": [petition.pk],
        "petitions_sitesettings_change": [SiteSettings.load().pk],
    }.get(page, [])
    assert client.get(url(page, *args)).status_code == status


def test_reviewer_reads_but_changes_nothing(login):
    client, _ = login(REVIEWERS)
    petition = PetitionFactory(state=S.SPONSORED, action="Original text")
    page = client.get(url("petitions_petition_change", petition.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert url("petitions_petition_moderate", petition.pk) not in page.content.decode()
    assert (
        client.post(url("petitions_petition_change", petition.pk), {"action": "Hijacked"}).status_code == 403
    )
    response = client.post(
        url("petitions_petition_moderate", petition.pk), {"action": "publish", "_save": "Save"}
    )
    assert response.status_code == 403
    petition.refresh_from_db()
    assert (petition.action, petition.state) == ("Original text", S.SPONSORED)


def test_reviewers_have_view_permissions_only():
    staff_groups_ensure()
    codenames = set(Group.objects.get(name=REVIEWERS).permissions.values_list("codename", flat=True))
    assert codenames and all(codename.startswith("view_") for codename in codenames)
    assert "view_signature" not in codenames  # signers' personal data
    assert {"view_petition", "view_rejection", "view_rejectionreason", "view_auditlog"} <= codenames
    assert {"view_governmentresponse", "view_parliamentaryevent"} <= codenames
    assert set(STAFF_GROUPS) == set(ROLES)


def test_only_sysadmins_have_axes_permissions():
    staff_groups_ensure()
    axes = Permission.objects.filter(content_type__app_label="axes")
    for role in ROLES:
        has = Group.objects.get(name=role).permissions.filter(pk__in=axes).exists()
        assert has == (role == SYSADMINS), role


def test_role_helpers():
    assert [is_moderator(make_staff(role)) for role in ROLES] == [True, True, False, False, False]
    assert [is_sysadmin(User.objects.get(username=role.lower().replace(" ", "_"))) for role in ROLES] == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert not is_moderator(None)
    assert is_sysadmin(User.objects.create_superuser("root", "root@example.com", "pw"))


SERVICE_CALLS = {
    "publish": (S.SPONSORED, lambda p, u: petition_publish(petition=p, actor=u)),
    "reject": (S.SPONSORED, lambda p, u: petition_reject(petition=p, actor=u, reason_code="duplicate")),
    "flag": (S.SPONSORED, lambda p, u: petition_flag(petition=p, actor=u)),
    "dormant": (S.SPONSORED, lambda p, u: petition_mark_dormant(petition=p, actor=u)),
    "restore_flagged": (S.FLAGGED, lambda p, u: petition_restore(petition=p, actor=u)),
    "restore_rejected": (S.REJECTED, lambda p, u: petition_restore(petition=p, actor=u)),
    "take_down": (S.OPEN, lambda p, u: petition_take_down(petition=p, actor=u, reason_code="duplicate")),
    "remove": (S.OPEN, lambda p, u: petition_remove(petition=p, actor=u)),
    "lock": (S.SPONSORED, lambda p, u: petition_lock(petition=p, actor=u)),
}
MAY = {
    SYSADMINS: set(SERVICE_CALLS),
    MODERATORS: set(SERVICE_CALLS) - {"restore_rejected", "remove"},
    REVIEWERS: set(),
    RESPONSE_EDITORS: set(),
    DEBATE_EDITORS: set(),
}


@pytest.mark.parametrize("call", list(SERVICE_CALLS))
@pytest.mark.parametrize("role", ROLES)
def test_services_check_the_role(role, call):
    user = make_staff(role)
    state, service = SERVICE_CALLS[call]
    petition = PetitionFactory(state=state)
    if state == S.REJECTED:
        Rejection.objects.create(petition=petition, reason=RejectionReason.objects.get(code="duplicate"))
    if call in MAY[role]:
        service(petition, user)
        petition.refresh_from_db()
        assert petition.state != state or call == "lock"
    else:
        with pytest.raises(NotAllowed):
            service(petition, user)
        petition.refresh_from_db()
        assert petition.state == state
        assert not AuditLog.objects.exists()


def test_moderator_rejecting_through_the_rejection_admin_goes_through_the_service(login):
    client, moderator = login(MODERATORS)
    petition = PetitionFactory(state=S.SPONSORED)
    add = url("petitions_rejection_add")
    data = form_data(client.get(add), Rejection)
    offensive = RejectionReason.objects.get(code="offensive")
    data.update(petition=str(petition.pk), reason=str(offensive.pk), details="Rude.")
    response = client.post(add, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    petition.refresh_from_db()
    assert petition.state == S.HIDDEN
    assert petition.moderated_by == moderator
    assert Rejection.objects.get(petition=petition).created_by == moderator
    assert AuditLog.objects.filter(action="petition.reject", actor=moderator).count() == 1

    # A rejected petition's rejection is a sysadmin's to change: the form says so.
    again = PetitionFactory(state=S.SPONSORED)
    petition_reject(petition=again, actor=moderator, reason_code="duplicate")
    data.update(petition=str(again.pk))
    response = client.post(add, data)
    assert response.status_code == 200
    assert "Only a sysadmin can change the rejection" in response.content.decode()


def test_site_settings_admin_has_every_knob_and_checks_sponsors(login):
    client, _ = login(SYSADMINS)
    change = url("petitions_sitesettings_change", SiteSettings.load().pk)
    page = client.get(change)
    fields = page.context["adminform"].form.fields
    for knob in (
        "petition_duration_months",
        "minimum_sponsors",
        "maximum_sponsors",
        "threshold_for_response",
        "threshold_for_debate",
        "moderation_delay_threshold",
        "moderation_delay_message",
        "disable_petition_creation",
        "disable_collecting_signatures",
        "banner_message",
    ):
        assert knob in fields, knob

    data = form_data(page, SiteSettings)
    data.update(minimum_sponsors="6", maximum_sponsors="4")
    response = client.post(change, data)
    assert response.status_code == 200
    assert "can&#x27;t be below the minimum" in response.content.decode()

    data.update(
        maximum_sponsors="25", banner_message="Planned maintenance tonight.", petition_duration_months="3"
    )
    assert client.post(change, data).status_code == 302
    site = SiteSettings.load()
    assert (site.maximum_sponsors, site.banner_message, site.petition_duration_months) == (
        25,
        "Planned maintenance tonight.",
        3,
    )


def test_signature_emails_stay_out_of_the_reviewer_view(login):
    client, _ = login(REVIEWERS)
    signature = ValidatedSignatureFactory(email="private.person@example.net")
    assert client.get(url("petitions_signature_change", signature.pk)).status_code == 403
    page = client.get(url("petitions_petition_change", signature.petition_id))
    assert "private.person" not in page.content.decode()
