"""Appraisal (鉴定): the four-properties check, the registers, the dossier and the portfolio."""
