"""Governance of the vault itself: the site policy, loaded only through the two-person rule."""
