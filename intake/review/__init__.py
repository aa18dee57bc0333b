"""Coordinators' side: review actions, read models, survey import, review-app users."""

# DESIGN.md's interface: every coordinator action goes through intake.review.resolve.
from intake.review.actions import resolve

__all__ = ["resolve"]
