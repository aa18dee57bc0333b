"""Why a link gave no file: the reasons a coordinator reads, and which of them a retry may mend."""

from __future__ import annotations

# reason → (what a coordinator reads, worth retrying on its own?). Permanent reasons wait
# for a person: a submitter who shares the file publicly, a coordinator who fetches again.
REASONS: dict[str, tuple[str, bool]] = {
    "not_found": ("not found: the link points at nothing (deleted, or mistyped)", False),
    "expired": ("expired: the provider no longer offers this file", False),
    "needs_signin": ("needs sign-in: the file is not shared with anyone who has the link",
                     False),
    "too_large": ("too large: the file is over the size limit (INTAKE_LINK_MAX_BYTES)", False),
    "not_media": ("not a media file: the link gives a web page or a file of another kind",
                  False),
    "refused": ("refused: the link leads to an address intake may not reach", False),
    "provider_error": ("provider error: the provider failed to answer; tried again later",
                       True),
}


class FetchFailed(Exception):
    """A fetch ended without a file; `reason` is a key of REASONS, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown fetch failure reason {reason!r}")
        super().__init__(detail)
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return REASONS[self.reason][1]


def describe(reason: str | None) -> str:
    return REASONS[reason][0] if reason in REASONS else (reason or "")


def reason_for_status(status: int) -> str:
    """An HTTP status of the provider's final answer → a reason."""
    if status in (401, 403):
        return "needs_signin"
    if status == 404:
        return "not_found"
    if status == 410:
        return "expired"
    if status == 413:
        return "too_large"
    return "provider_error"
