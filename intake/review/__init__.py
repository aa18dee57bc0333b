"""Coordinators' side: review actions, read models, survey import, review-app users."""

from __future__ import annotations


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: loaded on first use, not on import
    # DESIGN.md's interface: every coordinator action goes through intake.review.resolve.
    # Lazy, so importing any intake.review module does not load the actions too.
    if name == "resolve":
        from intake.review.actions import resolve

        return resolve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
