"""Factories with named variants (e-petitions spec/factories.rb style)."""

import factory
from django.utils import timezone

from petitions.models import Constituency, Country, Petition, PetitionState, Signature, SignatureState


class PetitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Petition

    action = factory.Sequence(lambda n: f"Do the thing number {n}")
    background = "Because it matters."
    state = PetitionState.PENDING


class OpenPetitionFactory(PetitionFactory):
    state = PetitionState.OPEN
    opened_at = factory.LazyFunction(timezone.now)


class ClosedPetitionFactory(PetitionFactory):
    state = PetitionState.CLOSED
    opened_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=200))
    closed_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=17))


class SignatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signature

    petition = factory.SubFactory(OpenPetitionFactory)
    name = factory.Sequence(lambda n: f"Signer {n}")
    email = factory.Sequence(lambda n: f"signer{n}@example.com")
    canonical_email = factory.LazyAttribute(lambda s: s.email.lower())
    country = factory.LazyFunction(lambda: Country.objects.get(code="GB"))
    constituency = factory.LazyFunction(lambda: Constituency.objects.order_by("gss_code").first())
    postcode = factory.LazyAttribute(lambda s: s.constituency.example_postcode if s.constituency else "")
    state = SignatureState.PENDING


class ValidatedSignatureFactory(SignatureFactory):
    state = SignatureState.VALIDATED
    validated_at = factory.LazyFunction(timezone.now)


class PendingSignatureFactory(SignatureFactory):
    state = SignatureState.PENDING


class FraudulentSignatureFactory(SignatureFactory):
    state = SignatureState.FRAUDULENT


class InvalidatedSignatureFactory(SignatureFactory):
    state = SignatureState.INVALIDATED
    invalidated_at = factory.LazyFunction(timezone.now)
