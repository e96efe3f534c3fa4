"""The Django admin: registration, page loads, staff groups, permissions, audit rows, privacy, query counts,
and the ensure_admin command."""

import io
import re
import stat
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    STAFF_APPS,
    STAFF_GROUPS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import (
    AuditLog,
    Constituency,
    Country,
    Nation,
    Petition,
    PetitionState,
    Region,
    Signature,
    SignatureState,
    SiteSettings,
)
from responses.models import GovernmentResponse

pytestmark = pytest.mark.django_db

STAFF_MODELS = [model for label in STAFF_APPS for model in apps.get_app_config(label).get_models()]


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


# --- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def su_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def staff_user(db):
    """staff_user(group_name) -> a logged-in-able staff user in that group."""

    def make(group_name):
        staff_groups_ensure()
        user = User.objects.create_user(group_name.lower().replace(" ", "_"), password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group_name))
        return user

    return make


@pytest.fixture
def as_group(client, staff_user):
    def login(group_name):
        client.force_login(staff_user(group_name))
        return client

    return login


@pytest.fixture
def gb(db):
    return Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})[0]


@pytest.fixture
def constituency(db):
    region, _ = Region.objects.get_or_create(
        gss_code="E12000007", defaults={"name": "London", "api_code": "H", "nation": Nation.ENGLAND}
    )
    return Constituency.objects.get_or_create(
        gss_code="E14001172",
        defaults={"name": "Cities of London and Westminster", "region": region, "nation": Nation.ENGLAND},
    )[0]


def make_petition(**kwargs):
    defaults = {"action": "Do the thing", "background": "Because it matters.", "state": PetitionState.OPEN}
    return Petition.objects.create(**{**defaults, **kwargs})


def make_signature(petition, country, n=0, **kwargs):
    email = f"signer{n}-{petition.pk}@example.org"
    defaults = {
        "name": f"Signer {n}",
        "email": email,
        "canonical_email": email,
        "country": country,
        "state": SignatureState.VALIDATED,
        "validated_at": timezone.now(),
    }
    return Signature.objects.create(petition=petition, **{**defaults, **kwargs})


class _FormReader(HTMLParser):
    """Collects the fields a browser would submit from the admin change form (id="<model>_form")."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id = form_id
        self.in_form = False
        self.data = []
        self._select = None  # [name, multiple, options, selected]
        self._textarea = None  # [name, text]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.in_form = a.get("id") == self.form_id
        if not self.in_form:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((a["name"], a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], "multiple" in a, [], []]
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._select[2].append(value)
            if "selected" in a:
                self._select[3].append(value)
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "select" and self._select is not None:
            name, multiple, options, selected = self._select
            if not selected and not multiple and options:
                selected = options[:1]
            self.data.extend((name, value) for value in selected)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.data.append((name, text.removeprefix("\n")))
            self._textarea = None


def form_data(response, model):
    """The POST data for the admin add/change form in `response`, as a browser would send it."""
    reader = _FormReader(f"{model._meta.model_name}_form")
    reader.feed(response.content.decode())
    data = {}
    for name, value in reader.data:
        data.setdefault(name, []).append(value)
    return {name: values if len(values) > 1 else values[0] for name, values in data.items()}


# --- Registration and page loads ------------------------------------------------------------------


def test_site_titles():
    assert admin.site.site_header == "Petitions administration"
    assert admin.site.site_title
    assert admin.site.index_title


@pytest.mark.parametrize("model", STAFF_MODELS, ids=lambda m: m._meta.label)
def test_every_model_is_registered(model):
    assert admin.site.is_registered(model)


@pytest.mark.parametrize("model", STAFF_MODELS, ids=lambda m: m._meta.label)
def test_superuser_loads_changelist_and_add_page(su_client, superuser, rf, model):
    response = su_client.get(_url(model, "changelist"), follow=True)
    assert response.status_code == 200

    request = rf.get("/")
    request.user = superuser
    can_add = admin.site.get_model_admin(model).has_add_permission(request)
    response = su_client.get(_url(model, "add"))
    assert response.status_code == (200 if can_add else 403)


def test_read_only_admins_cannot_add(superuser, rf):
    request = rf.get("/")
    request.user = superuser
    for label in (
        "petitions.AuditLog",
        "petitions.ConstituencyPetitionJournal",
        "petitions.CountryPetitionJournal",
    ):
        model_admin = admin.site.get_model_admin(apps.get_model(label))
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_index_and_search_pages(su_client, gb):
    petition = make_petition(action="Ban noisy leaf blowers")
    make_signature(petition, gb)
    assert su_client.get(reverse("admin:index")).status_code == 200
    response = su_client.get(_url(Petition, "changelist"), {"q": "leaf"})
    assert petition.action in response.content.decode()
    response = su_client.get(_url(Petition, "changelist"), {"q": str(petition.pk)})
    assert list(response.context["cl"].queryset) == [petition]
    response = su_client.get(_url(Signature, "changelist"), {"q": str(petition.pk)})
    assert response.context["cl"].queryset.count() == 1
    response = su_client.get(_url(Signature, "changelist"), {"q": f"signer0-{petition.pk}@example.org"})
    assert response.context["cl"].queryset.count() == 1


def test_autocomplete_finds_petitions_for_a_response_editor(as_group):
    petition = make_petition(action="Fund rural buses")
    client = as_group(RESPONSE_EDITORS)
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "term": "rural",
            "app_label": "responses",
            "model_name": "governmentresponse",
            "field_name": "petition",
        },
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(petition.pk)]


# --- Site settings singleton ----------------------------------------------------------------------


def test_site_settings_is_a_singleton(su_client):
    SiteSettings.objects.all().delete()
    response = su_client.get(_url(SiteSettings, "changelist"))
    assert response.status_code == 302
    assert response.url == _url(SiteSettings, "change", 1)
    assert SiteSettings.objects.count() == 1
    assert su_client.get(_url(SiteSettings, "add")).status_code == 403
    assert su_client.get(_url(SiteSettings, "delete", 1)).status_code == 403

    page = su_client.get(response.url)
    assert page.status_code == 200
    data = form_data(page, SiteSettings)
    data["threshold_for_response"] = "12000"
    assert su_client.post(response.url, data).status_code == 302
    assert SiteSettings.load().threshold_for_response == 12000
    assert AuditLog.objects.filter(action="admin.change", object_type="petitions.sitesettings").exists()


# --- Staff groups ---------------------------------------------------------------------------------


def _group_perms(name):
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_staff_groups_ensure_creates_groups_with_their_permissions():
    Group.objects.all().delete()
    staff_groups_ensure()
    assert set(Group.objects.values_list("name", flat=True)) >= {
        MODERATORS,
        RESPONSE_EDITORS,
        DEBATE_EDITORS,
        SYSADMINS,
    }
    for name, perms in STAFF_GROUPS.items():
        assert _group_perms(name) == set(perms)
    assert "petitions.change_petition" in _group_perms(MODERATORS)
    assert "petitions.delete_petition" not in _group_perms(MODERATORS)
    assert "responses.change_governmentresponse" in _group_perms(RESPONSE_EDITORS)
    assert "debates.delete_otherbusiness" in _group_perms(DEBATE_EDITORS)
    assert "auth.view_user" in _group_perms(SYSADMINS)
    assert "auth.change_user" not in _group_perms(SYSADMINS)


def test_staff_groups_ensure_is_idempotent_and_repairs_drift():
    staff_groups_ensure()
    counts = (Group.objects.count(), Group.permissions.through.objects.count(), Permission.objects.count())
    staff_groups_ensure()
    assert (
        Group.objects.count(),
        Group.permissions.through.objects.count(),
        Permission.objects.count(),
    ) == counts

    moderators = Group.objects.get(name=MODERATORS)
    moderators.permissions.add(Permission.objects.get(codename="delete_petition"))
    moderators.permissions.remove(Permission.objects.get(codename="change_petition"))
    staff_groups_ensure()
    assert _group_perms(MODERATORS) == set(STAFF_GROUPS[MODERATORS])


def test_groups_exist_after_migrate():
    # The post_migrate handler ran when pytest-django migrated the test database.
    assert set(STAFF_GROUPS) <= set(Group.objects.values_list("name", flat=True))


def test_sysadmins_can_do_everything_with_every_staff_model():
    perms = set(STAFF_GROUPS[SYSADMINS])
    for model in STAFF_MODELS:
        for action in model._meta.default_permissions:
            assert f"{model._meta.app_label}.{action}_{model._meta.model_name}" in perms


# --- Permissions per group ------------------------------------------------------------------------


def test_response_editor_permissions(as_group, gb):
    petition = make_petition()
    signature = make_signature(petition, gb)
    client = as_group(RESPONSE_EDITORS)
    assert client.get(_url(GovernmentResponse, "changelist")).status_code == 200
    assert client.get(_url(GovernmentResponse, "add")).status_code == 200
    assert client.get(_url_cons("add")).status_code == 200
    assert client.get(_url(Petition, "changelist")).status_code == 200
    page = client.get(_url(Petition, "change", petition.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]  # view only
    assert client.get(_url(Petition, "delete", petition.pk)).status_code == 403
    assert client.get(_url(Signature, "change", signature.pk)).status_code == 403
    assert client.get(_url(Signature, "changelist")).status_code == 403
    assert client.get(_url(AuditLog, "changelist")).status_code == 403
    assert client.get(_url(SiteSettings, "changelist")).status_code == 403
    assert client.get(reverse("admin:debates_parliamentaryevent_add")).status_code == 403


def _url_cons(view, *args):
    return reverse(f"admin:responses_consultation_{view}", args=args)


def test_moderator_permissions(as_group, gb):
    petition = make_petition()
    signature = make_signature(petition, gb)
    client = as_group(MODERATORS)
    page = client.get(_url(Petition, "change", petition.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"]
    assert "state" not in page.context["adminform"].form.fields  # lifecycle fields are sysadmin-only
    assert "action" in page.context["adminform"].form.fields
    assert client.get(_url(Petition, "delete", petition.pk)).status_code == 403
    assert client.get(_url(Petition, "add")).status_code == 403
    assert client.get(_url(Signature, "changelist")).status_code == 200
    assert client.get(_url(Signature, "change", signature.pk)).status_code == 200  # view only
    assert client.post(_url(Signature, "change", signature.pk), {"name": "X"}).status_code == 403
    assert client.get(reverse("admin:petitions_rejection_add")).status_code == 200
    assert client.get(_url(AuditLog, "changelist")).status_code == 200
    assert client.get(_url(GovernmentResponse, "changelist")).status_code == 403
    assert client.get(_url(SiteSettings, "changelist")).status_code == 403


def test_debate_editor_permissions(as_group):
    petition = make_petition()
    client = as_group(DEBATE_EDITORS)
    assert client.get(reverse("admin:debates_parliamentaryevent_add")).status_code == 200
    assert client.get(reverse("admin:debates_otherbusiness_changelist")).status_code == 200
    assert client.get(reverse("admin:debates_otherbusiness_add")).status_code == 200
    assert client.get(_url(GovernmentResponse, "changelist")).status_code == 403
    assert client.get(_url(Petition, "changelist")).status_code == 200
    assert client.post(_url(Petition, "change", petition.pk), {"action": "Hijacked"}).status_code == 403
    petition.refresh_from_db()
    assert petition.action == "Do the thing"


def test_sysadmin_permissions(as_group):
    petition = make_petition()
    client = as_group(SYSADMINS)
    assert client.get(_url(SiteSettings, "changelist"), follow=True).status_code == 200
    assert client.get(_url(Petition, "delete", petition.pk)).status_code == 200
    page = client.get(_url(Petition, "change", petition.pk))
    assert "state" in page.context["adminform"].form.fields
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    assert client.get(reverse("admin:auth_user_add")).status_code == 403

    log = AuditLog.objects.create(action="test", object_type="petitions.petition", object_id=str(petition.pk))
    assert client.get(_url(AuditLog, "change", log.pk)).status_code == 200  # view only
    assert client.get(_url(AuditLog, "delete", log.pk)).status_code == 403
    assert client.post(_url(AuditLog, "change", log.pk), {"action": "forged"}).status_code == 403


def test_non_staff_cannot_use_the_admin(client):
    user = User.objects.create_user("citizen", password="pw")
    client.force_login(user)
    response = client.get(_url(Petition, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


# --- Audit log ------------------------------------------------------------------------------------


def test_saving_a_petition_in_the_admin_writes_an_audit_row(su_client, superuser):
    petition = make_petition()
    url = _url(Petition, "change", petition.pk)
    data = form_data(su_client.get(url), Petition)
    data["action"] = "Do the other thing"
    response = su_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    petition.refresh_from_db()
    assert petition.action == "Do the other thing"
    log = AuditLog.objects.get(action="admin.change", object_type="petitions.petition")
    assert log.actor == superuser
    assert log.object_id == str(petition.pk)
    assert log.details == {"fields": ["action"]}


def test_moderator_edit_is_audited(as_group):
    petition = make_petition()
    client = as_group(MODERATORS)
    url = _url(Petition, "change", petition.pk)
    data = form_data(client.get(url), Petition)
    data["committee_note"] = "Debated in 2024."
    assert client.post(url, data).status_code == 302
    log = AuditLog.objects.get(action="admin.change")
    assert log.actor.username == "moderators"
    assert log.details == {"fields": ["committee_note"]}


def test_add_and_delete_are_audited(su_client, superuser):
    response = su_client.post(_url_topic("add"), {"name": "Health", "code": "health"})
    assert response.status_code == 302
    topic = apps.get_model("petitions.Topic").objects.get(code="health")
    added = AuditLog.objects.get(action="admin.add")
    assert (added.actor, added.object_type, added.object_id) == (superuser, "petitions.topic", str(topic.pk))
    assert set(added.details["fields"]) == {"name", "code"}

    response = su_client.post(_url_topic("delete", topic.pk), {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditLog.objects.get(action="admin.delete")
    assert (deleted.actor, deleted.object_id, deleted.object_repr) == (superuser, str(topic.pk), "Health")


def test_bulk_delete_action_is_audited(su_client):
    Topic = apps.get_model("petitions.Topic")
    topics = [Topic.objects.create(code=f"t{i}", name=f"Topic {i}") for i in range(3)]
    response = su_client.post(
        _url_topic("changelist"),
        {"action": "delete_selected", "_selected_action": [t.pk for t in topics], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Topic.objects.exists()
    assert AuditLog.objects.filter(action="admin.delete", object_type="petitions.topic").count() == 3


def _url_topic(view, *args):
    return reverse(f"admin:petitions_topic_{view}", args=args)


# --- Signatures: privacy and scale ----------------------------------------------------------------


def test_signature_changelist_never_shows_email(su_client, gb, constituency):
    petition = make_petition()
    signature = make_signature(petition, gb, constituency=constituency, email="Private.Person@example.net")
    response = su_client.get(_url(Signature, "changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert signature.name in html
    assert constituency.name in html
    assert "private.person" not in html.lower()
    assert "example.net" not in html


def _changelist_queries(client, model):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(_url(model, "changelist")).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", [Petition, Signature], ids=["petition", "signature"])
def test_changelist_queries_do_not_grow_with_rows(
    su_client, gb, constituency, model, django_assert_max_num_queries
):
    def add_rows(start, stop):
        for i in range(start, stop):
            petition = make_petition(action=f"Petition {i}", signature_count=i)
            make_signature(petition, gb, n=i, constituency=constituency)

    add_rows(0, 3)
    few = _changelist_queries(su_client, model)
    assert few <= 15
    add_rows(3, 30)
    with django_assert_max_num_queries(few):
        assert su_client.get(_url(model, "changelist")).status_code == 200


def test_signature_admin_is_built_for_big_tables():
    model_admin = admin.site.get_model_admin(Signature)
    assert model_admin.show_full_result_count is False
    assert "petition" in model_admin.raw_id_fields
    assert model_admin.list_select_related
    assert not any("email" in str(column) for column in model_admin.list_display)


# --- ensure_admin ---------------------------------------------------------------------------------

LINE = re.compile(r"^Admin login: http://testserver/admin/  username: (\S+)  password: (.+)$")


def _ensure_admin():
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    return match.group(1), match.group(2)


@pytest.fixture
def admin_env(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path / "var"
    settings.SITE_URL = "http://testserver"
    monkeypatch.delenv("ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    return settings.VAR_DIR / "admin-password.txt"


def test_ensure_admin_creates_a_superuser_and_keeps_its_password(admin_env):
    username, password = _ensure_admin()
    assert username == "admin"
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.check_password(password)
    assert user.groups.filter(name=SYSADMINS).exists()
    assert admin_env.read_text().strip() == password
    assert stat.S_IMODE(admin_env.stat().st_mode) == 0o600

    assert _ensure_admin() == ("admin", password)
    assert User.objects.filter(username="admin").count() == 1


def test_ensure_admin_honours_the_environment(admin_env, monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "boss")
    monkeypatch.setenv("ADMIN_PASSWORD", "correct horse battery staple")
    assert _ensure_admin() == ("boss", "correct horse battery staple")
    assert User.objects.get(username="boss").check_password("correct horse battery staple")
    assert not admin_env.exists()  # a password given in the environment is not written to disk

    monkeypatch.setenv("ADMIN_PASSWORD", "a new password 2")
    assert _ensure_admin() == ("boss", "a new password 2")
    assert User.objects.get(username="boss").check_password("a new password 2")


def test_ensure_admin_keeps_an_unknown_existing_password(admin_env):
    User.objects.create_user("admin", password="set elsewhere")
    username, shown = _ensure_admin()
    assert username == "admin"
    assert "kept" in shown
    user = User.objects.get(username="admin")
    assert user.check_password("set elsewhere")
    assert user.is_superuser and user.groups.filter(name=SYSADMINS).exists()


def test_ensure_admin_does_not_print_a_stale_stored_password(admin_env, monkeypatch):
    _, generated = _ensure_admin()
    monkeypatch.setenv("ADMIN_PASSWORD", "changed by the operator")
    _ensure_admin()
    monkeypatch.delenv("ADMIN_PASSWORD")
    _, shown = _ensure_admin()
    assert shown != generated
    assert "kept" in shown
