"""Corrections to the published metadata, applied in exactly one place.

The table lives in :data:`constants.EYE_ERRATA`. :func:`effective_eye` is the only function that reads it; the
response loader records both the corrected eye (``session_kwargs["eye"]``) and the label found in the file
(``session_kwargs["eye_recorded"]``), and the dataloader calls it again so hand-built response dictionaries
are corrected too (the function is idempotent).
"""

from __future__ import annotations

import logging

from openretina_core import BadDataError
from openretina_hoefling_2024 import constants as c

logger = logging.getLogger(__name__)

EYES = ("left", "right")


def effective_eye(session: str, recorded: str | None) -> str:
    """The eye a field was recorded from, after the errata table; ``None`` means the file records no eye."""
    corrected = c.EYE_ERRATA.get(session)
    if corrected is not None:
        if recorded != corrected:
            logger.info(
                "session %s: eye %r in the file corrected to %r (errata)", session, recorded, corrected
            )
        return corrected
    if recorded is None:
        logger.warning("session %s records no eye; assuming %r", session, c.DEFAULT_EYE)
        return c.DEFAULT_EYE
    if recorded not in EYES:
        raise BadDataError(f"session {session!r}: eye must be one of {EYES}, received {recorded!r}")
    return recorded
