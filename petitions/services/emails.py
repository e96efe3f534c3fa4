from django.db import transaction
from django.db.models import F

from ..emails import email_send
from ..models import Signature, SiteSettings


def signature_email_send(*, signature_id: int, template: str, extra: dict) -> bool:
    """Send `template` to the signature's address now. Anonymised or deleted signatures get nothing."""
    signature = Signature.objects.select_related("petition", "constituency").filter(pk=signature_id).first()
    if signature is None or signature.anonymized_at is not None:
        return False
    context = {"signature": signature, "petition": signature.petition, "site": SiteSettings.load(), **extra}
    email_send(to=signature.email, template=template, context=context)
    Signature.objects.filter(pk=signature_id).update(email_count=F("email_count") + 1)
    return True


def signature_email_on_commit(*, signature_id: int, template: str, extra: dict | None = None) -> None:
    """Queue an email to a signature once the current transaction commits (nothing is sent if it rolls back)."""
    from ..tasks import signature_email

    transaction.on_commit(lambda: signature_email.delay(signature_id, template, extra or {}))
