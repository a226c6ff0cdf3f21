"""Intake, arrangement, catalogue, attachments, import and file reviews."""
