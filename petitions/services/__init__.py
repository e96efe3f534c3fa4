"""Writes. Each `<entity>_<verb>` function is one transaction; side effects (email, tasks) run after commit.

The package is split by area; import from `petitions.services`.
"""

from .audit import audit_log_record
from .counting import petition_counts_repair, petition_recount, signatures_tally
from .creation import email_canonicalise, petition_create
from .emails import signature_email_on_commit, signature_email_send
from .fraud import FormSignals, signing_rules, signing_rules_clear, trending_items_record
from .invalidations import (
    INVALIDATION_CRITERIA,
    InvalidationStateError,
    invalidation_cancel,
    invalidation_count,
    invalidation_create,
    invalidation_criteria_clean,
    invalidation_run_batch,
    invalidation_start,
    invalidations_resume,
)
from .lifecycle import (
    dissolution_notification_deliver,
    dissolution_notifications_enqueue,
    parliament_dissolve,
    petition_anonymise,
    petition_close,
    petitions_anonymise,
    petitions_close_expired,
    petitions_extend_deadlines_while_paused,
)
from .moderation import (
    NotAllowed,
    TransitionError,
    is_moderator,
    is_sysadmin,
    moderation_actions,
    moderation_check,
    petition_flag,
    petition_lock,
    petition_lock_holder,
    petition_mark_dormant,
    petition_moderate,
    petition_publish,
    petition_reject,
    petition_remove,
    petition_restore,
    petition_take_down,
    petition_unlock,
)
from .reference import reference_data_load
from .self_service import (
    SignatureUnsubscribeRefused,
    SignatureWithdrawRefused,
    signature_unsubscribe,
    signature_withdraw,
    signature_withdraw_refusal_reason,
)
from .signatures import signature_create
from .signing import (
    SignatureNotConfirmable,
    SignatureTokenInvalid,
    petition_creator_validate,
    signature_confirm,
    sponsor_sign,
)
from .thresholds import petitions_thresholds_check, threshold_digests_send

__all__ = [
    "FormSignals",
    "NotAllowed",
    "SignatureNotConfirmable",
    "SignatureTokenInvalid",
    "SignatureUnsubscribeRefused",
    "SignatureWithdrawRefused",
    "TransitionError",
    "audit_log_record",
    "dissolution_notification_deliver",
    "dissolution_notifications_enqueue",
    "email_canonicalise",
    "is_moderator",
    "is_sysadmin",
    "moderation_actions",
    "moderation_check",
    "parliament_dissolve",
    "petition_anonymise",
    "petition_close",
    "petition_counts_repair",
    "petition_create",
    "petition_creator_validate",
    "petition_flag",
    "petition_lock",
    "petition_lock_holder",
    "petition_mark_dormant",
    "petition_moderate",
    "petition_publish",
    "petition_recount",
    "petition_reject",
    "petition_remove",
    "petition_restore",
    "petition_take_down",
    "petition_unlock",
    "petitions_anonymise",
    "petitions_close_expired",
    "petitions_extend_deadlines_while_paused",
    "petitions_thresholds_check",
    "threshold_digests_send",
    "reference_data_load",
    "signature_confirm",
    "signature_create",
    "signature_email_on_commit",
    "signature_email_send",
    "signature_unsubscribe",
    "signature_withdraw",
    "signature_withdraw_refusal_reason",
    "signatures_tally",
    "signing_rules",
    "signing_rules_clear",
    "sponsor_sign",
    "trending_items_record",
    "INVALIDATION_CRITERIA",
    "InvalidationStateError",
    "invalidation_cancel",
    "invalidation_count",
    "invalidation_create",
    "invalidation_criteria_clean",
    "invalidation_run_batch",
    "invalidation_start",
    "invalidations_resume",
]
