"""Oversight: export quota, alerts, statistics, notifications."""
