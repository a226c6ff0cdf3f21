"""Temporary access (DESIGN §3.8): requests, approvals, grants, expiry and revocation."""
