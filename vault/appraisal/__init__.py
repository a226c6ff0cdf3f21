"""Appraisal (鉴定): retention schedule, legal holds, disposal by crypto-shredding."""
