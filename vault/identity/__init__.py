"""Who someone is: API tokens, local accounts, TOTP, SSO linking."""
