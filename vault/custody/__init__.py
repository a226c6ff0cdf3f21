"""Custody (保管): lending, reminders, traceable copies and watermarks."""
