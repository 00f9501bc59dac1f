"""The contact an offline ticket leaves to be called back: encrypted at rest, masked in lists.

The key is ``CONTACT_KEY`` (a Fernet key as is, any other string hashed into one) or, when unset, a key
derived from ``SESSION_SECRET``; either must be the same on every instance and kept across restarts.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Optional

from cryptography.fernet import Fernet

_DERIVE = b"taxguide-ticket-contact\x00"


def contact_cipher(key: Optional[str], fallback_secret: str) -> Fernet:
    """The Fernet cipher of ticket contacts for ``key`` (``fallback_secret`` when ``key`` is unset)."""
    if key:
        try:
            return Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            pass
    material = key or fallback_secret
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_DERIVE + material.encode("utf-8")).digest()))


def mask_contact(contact: Optional[str]) -> Optional[str]:
    """What a list shows of a contact: an e-mail's first letter and domain, a number's last four digits."""
    if not contact:
        return contact
    name, at, domain = contact.partition("@")
    if at:
        return f"{name[:1]}***@{domain}"
    return "***" + contact[-4:] if len(contact) > 6 else "***"
