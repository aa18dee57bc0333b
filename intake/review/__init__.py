"""Coordinators' side: review actions, read models, survey import, review-app users."""
