"""Appraisal (鉴定): the retention schedule, legal holds and disposal by crypto-shredding
(``retention``, ``holds``, ``disposal``, ``certificates``); the four-properties check
(``checks``), the registers, the dossier and the portfolio."""
