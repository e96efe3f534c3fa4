from ..models import AuditLog


def audit_log_record(*, actor, action: str, obj, details: dict | None = None) -> AuditLog:
    """Record a staff action, or a system one with `actor=None` (a job). Call it inside the transaction of the
    action it records."""
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        details=details or {},
    )
