"""Realistic public data for the browser tests: a petition in each public state (open with signatures from many
constituencies; closed with a published government response, a debate and other business; rejected; removed;
gathering supporters; awaiting moderation), signers at each step of their links, consultations, parliamentary
events and constituency alerts. Built with the ORM in well under a second."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from debates.models import (
    AlertState,
    ConstituencyAlert,
    EventKind,
    OtherBusiness,
    Outcome,
    ParliamentaryEvent,
)
from petitions.dates import deadline_for
from petitions.models import (
    Constituency,
    Country,
    DebateState,
    Department,
    Petition,
    PetitionState,
    Rejection,
    RejectionReason,
    ResponseState,
    Signature,
    SignatureState,
    SigningListEntry,
    Topic,
)
from petitions.postcodes import lookup
from petitions.services import petition_recount, signing_rules_clear
from responses.models import Consultation, GovernmentResponse, ResponseStatus

#: The constituency the MP's-office pages show: the one of this postcode.
POSTCODE = "SW1A 1AA"
OPEN_ACTION = "Fund more school nurses in every secondary school"


@dataclass
class PublicData:
    open: Petition
    closed: Petition
    rejected: Petition
    removed: Petition
    validated: Petition
    sponsored: Petition
    full: Petition
    constituency: Constituency
    debate: ParliamentaryEvent
    creator: Signature
    signer: Signature
    pending: Signature
    unsubscribed: Signature
    withdrawn: Signature
    alert_pending: ConstituencyAlert
    alert_active: ConstituencyAlert
    alert_gone: ConstituencyAlert
    #: An action close enough to the open petition's for the start journey to show "similar petitions".
    similar_action: str = "Fund more school nurses"


def _signature(
    petition, n, *, constituency, state=SignatureState.VALIDATED, country="GB", **fields
) -> Signature:
    now = timezone.now()
    email = fields.pop("email", f"person{petition.pk}-{n}@example.org")
    return Signature(
        petition=petition,
        name=fields.pop("name", f"Person {n} Example"),
        email=email,
        canonical_email=email,
        email_domain="example.org",
        postcode=constituency.example_postcode if constituency else "",
        country=Country.objects.get(code=country),
        constituency=constituency,
        state=state,
        validated_at=now if state == SignatureState.VALIDATED else None,
        **fields,
    )


def _petition(action: str, state: str, *, opened_days_ago: int | None, **fields) -> Petition:
    now = timezone.now()
    opened_at = now - timedelta(days=opened_days_ago) if opened_days_ago is not None else None
    return Petition.objects.create(
        action=action,
        background=f"{action}: the reasons, in a sentence or two, as a creator would write them.",
        additional_details="More detail, with a second paragraph.\n\nLike this one.",
        state=state,
        created_at=(opened_at or now) - timedelta(days=7),
        opened_at=opened_at,
        deadline_at=deadline_for(opened_at, 6) if opened_at else None,
        **fields,
    )


def public_data_create() -> PublicData:
    now = timezone.now()
    today = timezone.localdate()
    constituency = Constituency.objects.get(gss_code=lookup(POSTCODE).gss_code)
    others = list(Constituency.objects.exclude(pk=constituency.pk).order_by("gss_code")[:40:4])
    education, _ = Department.objects.get_or_create(
        acronym="DFE", defaults={"name": "Department for Education"}
    )
    health, _ = Department.objects.get_or_create(
        acronym="DHSC", defaults={"name": "Department of Health and Social Care"}
    )
    topic, _ = Topic.objects.get_or_create(code="health", defaults={"name": "Health"})
    # The browser starts a petition from the loopback address, as tests/e2e/conftest.py allows for journeys.
    for address in ("127.0.0.1", "::1"):
        SigningListEntry.objects.get_or_create(
            action="allow", kind="ip", value=address, defaults={"note": "Browser tests"}
        )
    signing_rules_clear()

    open_petition = _petition(OPEN_ACTION, PetitionState.OPEN, opened_days_ago=40)
    open_petition.topics.add(topic)
    open_petition.departments.add(health)
    closed = _petition(
        "Make SEND training mandatory for all teaching staff",
        PetitionState.CLOSED,
        opened_days_ago=220,
        response_state=ResponseState.RESPONDED,
        debate_state=DebateState.DEBATED,
        response_threshold_reached_at=now - timedelta(days=200),
        government_response_at=now - timedelta(days=150),
        debate_threshold_reached_at=now - timedelta(days=120),
        scheduled_debate_date=today - timedelta(days=30),
        debate_outcome_at=now - timedelta(days=29),
    )
    Petition.objects.filter(pk=closed.pk).update(closed_at=closed.deadline_at)
    closed.departments.add(education)
    rejected = _petition(
        "Give everyone a pony",
        PetitionState.REJECTED,
        opened_days_ago=None,
        rejected_at=now - timedelta(days=3),
    )
    Rejection.objects.create(
        petition=rejected,
        reason=RejectionReason.objects.filter(hidden=False).order_by("pk").first(),
        details="Parliament can't do this.",
    )
    removed = _petition(
        "A petition that was taken down",
        PetitionState.REMOVED,
        opened_days_ago=20,
        removed_at=now,
        state_at_removal=PetitionState.OPEN,
    )
    validated = _petition("Reopen the village library", PetitionState.VALIDATED, opened_days_ago=None)
    sponsored = _petition("Light the canal towpath at night", PetitionState.SPONSORED, opened_days_ago=None)
    full = _petition("Plant trees along the ring road", PetitionState.SPONSORED, opened_days_ago=None)

    rows = []
    for petition in (open_petition, closed, rejected, removed, validated, sponsored, full):
        rows.append(_signature(petition, 0, constituency=constituency, creator=True, name="Jo Leighton"))
    for petition, sponsors in ((validated, 2), (sponsored, 5), (full, 20), (rejected, 5)):
        rows += [
            _signature(petition, n, constituency=others[n % len(others)], sponsor=True)
            for n in range(1, sponsors + 1)
        ]
    for petition, signers in ((open_petition, 30), (closed, 24)):
        rows += [
            _signature(petition, n, constituency=([constituency] + others)[n % (len(others) + 1)])
            for n in range(1, signers + 1)
        ]
        rows.append(_signature(petition, 99, constituency=None, country="FR"))
    Signature.objects.bulk_create(rows)
    signer = _signature(
        open_petition, 100, constituency=constituency, notify_by_email=True, name="Sam Signer"
    )
    pending = _signature(open_petition, 101, constituency=constituency, state=SignatureState.PENDING)
    unsubscribed = _signature(open_petition, 102, constituency=constituency, unsubscribed_at=now)
    withdrawn = _signature(open_petition, 103, constituency=constituency, withdrawn_at=now)
    withdrawn.state = SignatureState.INVALIDATED
    for signature in (signer, pending, unsubscribed, withdrawn):
        signature.save()
    for petition in (open_petition, closed, rejected):
        petition_recount(petition_id=petition.pk)

    response = GovernmentResponse.objects.create(
        petition=closed,
        responded_on=today - timedelta(days=150),
        summary="Every teacher already shows they understand the needs of pupils with SEND to qualify.",
        details="The quality of teaching is key.\n\n## Reforms\n\n- Initial teacher training\n- The Early Career Framework",
        department=education,
        status=ResponseStatus.PUBLISHED,
        published_at=now - timedelta(days=150),
    )
    debated = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="MPs debate SEND training for teachers",
        starts_at=now - timedelta(days=30),
        place="Westminster Hall",
        summary="MPs debated the petition.",
        lead_mp=constituency,
        department=education,
        outcome=Outcome.DEBATED,
        outcome_at=now - timedelta(days=29),
        overview="The minister replied for the government.",
        transcript_url="https://hansard.parliament.uk/commons/2024-01-01/debates/1/SEND",
        video_url="https://parliamentlive.tv/event/index/1",
    )
    debated.petitions.add(closed)
    debate = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="MPs debate school nurses",
        starts_at=now + timedelta(days=10),
        place="Westminster Hall",
        summary="A debate led by a member of the Petitions Committee.",
        lead_mp=constituency,
        department=health,
    )
    debate.petitions.add(open_petition)
    statement = ParliamentaryEvent.objects.create(
        kind=EventKind.MINISTERIAL_STATEMENT,
        title="Minister's statement on school health",
        starts_at=now + timedelta(days=11),
        lead_mp_name="The Minister for Schools",
    )
    statement.petitions.add(open_petition)
    evidence = ParliamentaryEvent.objects.create(
        kind=EventKind.CALL_FOR_EVIDENCE,
        title="Call for evidence: school nursing",
        starts_at=now - timedelta(days=2),
        evidence_deadline=now + timedelta(days=20),
        evidence_url="https://committees.parliament.uk/call-for-evidence/1",
    )
    evidence.petitions.add(open_petition)
    OtherBusiness.objects.create(
        petition=closed,
        subject="The Education Committee took evidence",
        body="The committee heard from teachers.",
        occurred_on=today - timedelta(days=60),
    )
    past = Consultation.objects.create(
        title="SEND review",
        summary="Tell us what you think.",
        details="The review has closed: **thank you**.",
        department=education,
        url="https://www.gov.uk/government/consultations/send-review",
        opens_at=now - timedelta(days=100),
        closes_at=now - timedelta(days=10),
    )
    past.petitions.add(closed)
    past.responses.add(response)
    Consultation.objects.create(
        title="School nursing",
        summary="How should school nursing work?",
        department=health,
        url="https://www.gov.uk/government/consultations/school-nursing",
        opens_at=now - timedelta(days=5),
        closes_at=now + timedelta(days=50),
    ).petitions.add(open_petition)

    def alert(n, state):
        return ConstituencyAlert.objects.create(
            email=f"office{n}@example.org",
            constituency=constituency,
            state=state,
            confirm_token=f"confirm-token-{n}-" + "x" * 40,
            unsubscribe_token=f"unsubscribe-token-{n}-" + "x" * 40,
            confirmed_at=now if state != AlertState.PENDING else None,
            unsubscribed_at=now if state == AlertState.UNSUBSCRIBED else None,
        )

    return PublicData(
        open=Petition.objects.get(pk=open_petition.pk),
        closed=Petition.objects.get(pk=closed.pk),
        rejected=rejected,
        removed=removed,
        validated=validated,
        sponsored=sponsored,
        full=full,
        constituency=constituency,
        debate=debate,
        creator=Signature.objects.get(petition=open_petition, creator=True),
        signer=signer,
        pending=pending,
        unsubscribed=unsubscribed,
        withdrawn=withdrawn,
        alert_pending=alert(1, AlertState.PENDING),
        alert_active=alert(2, AlertState.ACTIVE),
        alert_gone=alert(3, AlertState.UNSUBSCRIBED),
    )


def confirm_path(signature: Signature) -> str:
    return f"/signatures/{signature.pk}/confirm?token={signature.confirm_token}"


def unsubscribe_path(signature: Signature) -> str:
    return f"/signatures/{signature.pk}/unsubscribe?token={signature.unsubscribe_token}"


def withdraw_path(signature: Signature) -> str:
    return f"/signatures/{signature.pk}/withdraw?token={signature.confirm_token}"


def sponsor_path(petition: Petition, page: str = "new") -> str:
    return f"/petitions/{petition.pk}/sponsors/{page}?token={petition.sponsor_token}"
