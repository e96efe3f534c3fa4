"""Writes. Each `<entity>_<verb>` function is one transaction; side effects (email, tasks) run after commit.

The package is split by area; import from `petitions.services`.
"""

from .audit import audit_log_record
from .counting import petition_recount
from .emails import signature_email_on_commit, signature_email_send
from .reference import reference_data_load

__all__ = [
    "audit_log_record",
    "petition_recount",
    "reference_data_load",
    "signature_email_on_commit",
    "signature_email_send",
]
