"""The words the pages show for the vault's codes, in the archive's own terms (DOMAIN.md).

Error codes stay stable and are always shown; the sentence next to them is
translated here, so no English message from a service reaches a Chinese page.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import LazyString, lazy_pgettext
from flask_babel import lazy_gettext as _l

from vault import proposals
from vault.models import Proposal
from vault.oversight.decisions import Change

SECTIONS = {
    1: _l("Basic information"),
    2: _l("Credit, finance and payment"),
    3: _l("Transactions"),
    4: _l("Returns and discounts"),
}
SECTION_KEYS = {1: "basic", 2: "credit", 3: "transactions", 4: "returns"}

TIERS = {"core": _l("Core"), "special": _l("Special"), "general": _l("General")}

KINDS = {
    "government": _l("Government body"),
    "special_company": _l("Special company"),
    "company": _l("Ordinary company"),
    "individual": _l("Individual"),
    "partner": _l("Partner"),
}

RELATIONSHIPS = {
    "prospective": _l("Prospective"),
    "active": _l("Active"),
    "former": _l("Former"),
}

ROLES = {
    "employee": _l("Employee"),
    "auditor": _l("Auditor"),
    "admin": lazy_pgettext("role", "Administrator"),
    "custodian": _l("Custodian"),
}

REQUEST_STATUSES = {
    "pending": _l("Waiting for a decision"),
    "approved": _l("Approved"),
    "denied": _l("Turned down"),
    "withdrawn": _l("Withdrawn"),
    "expired": _l("Expired"),
}

GRANT_STATUSES = {"active": _l("In force"), "expired": _l("Expired"), "revoked": _l("Revoked")}

GRANT_ACTIONS = {"consult": _l("Consult"), "copy": _l("Copy"), "lend": _l("Borrow")}

ITEM_KINDS = {
    "folder": _l("Folder"),
    "binder": _l("Binder"),
    "box": _l("Archive box"),
    "media": _l("Medium"),
}

CONDITIONS = {
    "good": _l("Good"),
    "worn": _l("Worn"),
    "damaged": _l("Damaged"),
    "incomplete": _l("Incomplete"),
}

PROPOSAL_KINDS = {
    "designation": _l("Custodian designation"),
    "hire_date_confirm": _l("Hire date confirmation"),
    "hire_date_change": _l("Hire date change"),
    "role_grant": _l("Role"),
    "departure_withdraw": _l("Leaving date taken back"),
    "departure_postpone": _l("Leaving date postponed"),
    "key_retire": _l("Key retirement"),
    "audit_rotate_keys": _l("New audit keys"),
    "site_policy": _l("Site policy"),
    "retention_schedule": _l("Retention schedule"),
    "legal_hold_lift": _l("Legal hold lifted"),
}

# A record's retention state (vault.appraisal.retention).
RETENTION_STATES = {
    "due": _l("Due for disposal"),
    "kept": _l("Kept until its date"),
    "held": _l("Held (legal hold)"),
    "until_relationship_ends": _l("Until the relationship ends"),
    "permanent": _l("Kept permanently"),
    "disposed": _l("Disposed of"),
}

# From when a retention rule counts.
ANCHORS = {
    "relationship_end": _l("after the client relationship ends"),
    "lapse": _l("after the credit report lapses"),
    "record_year": _l("after the end of the record's year"),
    "document_date": _l("after the document's date"),
    "permanent": _l("permanently"),
}

BATCH_STATUSES = {
    "proposed": _l("Waiting for approval"),
    "disposed": _l("Disposed of"),
    "rejected": _l("Turned down"),
}

PROPOSAL_STATUS = {
    "pending": _l("Waiting"),
    "approved": _l("Approved"),
    "rejected": _l("Turned down"),
    "expired": _l("Expired"),
    "withdrawn": _l("Withdrawn"),
}

DECISIONS = {"allow": _l("Allowed"), "deny": _l("Denied"), "n/a": _l("Not a decision")}

# Every act, as the audit log and the statistics name it (vault.policy.Action values).
ACTIONS = {
    "account:password": _l("Change one's own password"),
    "account:totp": _l("Change one's own one-time code"),
    "alert:read": _l("Read the alerts"),
    "client:end_relationship": _l("Record the end of a client relationship"),
    "disposal:approve": _l("Approve a disposal batch"),
    "disposal:carry_out": _l("Carry out a disposal (crypto-shredding)"),
    "disposal:countersign": _l("Countersign a disposal batch"),
    "disposal:propose": _l("Propose a disposal batch"),
    "disposal:read": _l("Read disposal lists and holds"),
    "disposal:reject": _l("Turn down a disposal batch"),
    "hold:lift": _l("Lift a legal hold"),
    "hold:place": _l("Place a legal hold"),
    "retention:dates": _l("Disposal dates changed"),
    "retention:load": _l("Load a retention schedule"),
    "retention:read": _l("Read the retention schedule"),
    "audit:export": _l("Export the audit log"),
    "audit:patterns": _l("See the access patterns"),
    "audit:read": _l("Read the audit log"),
    "audit:rotate_keys": _l("Rotate the audit keys"),
    "audit:verify": _l("Verify the audit log"),
    "auth:lockout": _l("Sign-in locked"),
    "auth:login": _l("Sign in"),
    "auth:logout": _l("Sign out"),
    "check:read": _l("Read the four-properties check reports"),
    "check:run": _l("Run the four-properties check"),
    "client:create": _l("Create a client"),
    "client:dossier": _l("Compile a client dossier"),
    "client:import": _l("Import a spreadsheet"),
    "client:lookup": _l("Look up a client by tax id or bank account"),
    "client:read": _l("Read a client"),
    "client:review": _l("Review a client file"),
    "client:review_due": _l("Client file review due"),
    "departure:change": _l("Change a leaving date"),
    "report:departure": _l("Departure report"),
    "designation:create": _l("Designate a custodian"),
    "grant:expire": _l("Grant ended"),
    "grant:issue": _l("Issue a grant"),
    "grant:read": _l("Read grants"),
    "grant:revoke": _l("Revoke a grant"),
    "guard:alert": _l("Raise an alert"),
    "item:borrow": _l("Borrow an item"),
    "item:checkin": _l("Check an item in"),
    "item:checkout": _l("Check an item out"),
    "item:create": _l("Register an item"),
    "item:read": _l("Read items and loans"),
    "item:remind": _l("Loan reminder"),
    "item:renew": _l("Renew a loan"),
    "key:retire": _l("Retire a key"),
    "key:rewrap": _l("Re-wrap data keys"),
    "key:rotate": _l("Rotate the keys"),
    "key:status": _l("Read the key status"),
    "notification:read": _l("Read notifications"),
    "person:create": _l("Add a person"),
    "person:depart": _l("Set a leaving date"),
    "person:hire_date": _l("Change a hire date"),
    "person:read": _l("Read people"),
    "person:update": _l("Update a person"),
    "policy:explain": _l("Explain a decision"),
    "policy:load": _l("Load a site policy"),
    "policy:why": _l("Ask why a decision is what it is"),
    "portfolio:read": _l("Read the portfolio of client files"),
    "profile:read": _l("Read one's own page"),
    "proposal:approve": _l("Approve a proposal"),
    "proposal:create": _l("Make a proposal"),
    "proposal:expire": _l("Proposal expired"),
    "request:expire": _l("Request expired"),
    "proposal:read": _l("Read proposals"),
    "proposal:reject": _l("Turn down a proposal"),
    "proposal:withdraw": _l("Withdraw a proposal"),
    "public:read": _l("Public page"),
    "record:attach": _l("Attach a file to a record"),
    "record:check": _l("System check of records"),
    "record:consult": _l("Consult a record"),
    "record:copy": _l("Copy a record"),
    "record:deposit": _l("Deposit a record"),
    "record:read": _l("Read the catalogue"),
    "register:read": _l("Read the loan and use registers"),
    "request:approve": _l("Approve an access request"),
    "request:create": _l("Ask for access"),
    "request:deny": _l("Turn down an access request"),
    "request:read": _l("Read access requests"),
    "request:withdraw": _l("Withdraw an access request"),
    "review:clear": _l("Clear a person under review"),
    "role:grant": _l("Give a role"),
    "session:revoke": _l("End sessions"),
    "stats:read": _l("Read the statistics"),
    "token:create": _l("Create an API token"),
    "token:issue": _l("Issue an API token"),
    "token:revoke": _l("Revoke an API token"),
    "token:revoke_own": _l("Revoke one's own API token"),
    "vault:backup": _l("Back up the vault"),
    "vault:restore": _l("Restore the vault from a backup"),
}

# What became of an act (an audit event's outcome).
OUTCOMES = {
    "ok": _l("Done"),
    "denied": _l("Refused"),
    "error": _l("Failed"),
}

# Why the policy allowed an act (its permit rule's reason) and other audit reasons;
# the reasons for a refusal are the error sentences in MESSAGES.
GROUNDS = {
    "custodian": _l("as a custodian"),
    "grant": _l("with a grant"),
    "signed_in": _l("signed in"),
    "auditor": _l("as an auditor"),
    "admin": _l("as an administrator"),
    "registered": _l("registered"),
    "page": _l("a list page"),
    "checkout": _l("at check-out"),
    "checkin": _l("at check-in"),
    "unwrap_failed": _l("the data key could not be unwrapped"),
    "depositor": _l("as the depositor"),
    "own_token": _l("for one's own token"),
    "own_account": _l("for one's own account"),
    "password_changed": _l("the password was changed"),
    "totp_changed": _l("the one-time code was changed"),
    "appraisal_reader": _l("as one who answers for the archive"),
}

ALERT_KINDS = {
    "quota_exceeded": _l("Export quota crossed"),
    "page_quota_exceeded": _l("Too many list pages read"),
    "departed_access": _l("Access tried after leaving"),
    "departing_access": _l("Access tried while leaving"),
    "loan_returned_short": _l("Item returned with pages missing"),
    "loan_damaged": _l("Item returned damaged"),
    "departure_use_rise": _l("Use rose after notice of leaving"),
    "check_failed": _l("Four-properties check found faults"),
}

# The four properties of an electronic record (四性) and what the check finds.
CHECK_PROPERTIES = {
    "authenticity": _l("Authenticity"),
    "integrity": _l("Integrity"),
    "usability": _l("Usability"),
    "security": _l("Security"),
}
CHECK_CODES = {
    "intake_event_missing": _l("no intake event in the audit log"),
    "intake_event_tampered": _l("the intake event does not verify"),
    "no_intake_digest": _l("no digest was recorded at intake"),
    "intake_digest_mismatch": _l("the card's digest differs from the intake event's"),
    "content_changed": _l("the content is not what was filed"),
    "metadata_missing": _l("required catalogue data missing"),
    "file_number_mismatch": _l("the file number does not match the card"),
    "number_gap": _l("a gap in the file numbers"),
    "number_duplicate": _l("a file number used twice"),
    "attachment_missing": _l("an attached file is missing"),
    "no_blob_hash": _l("no hash was recorded for the attached file"),
    "attachment_changed": _l("an attached file was changed"),
    "pdf_unreadable": _l("the PDF does not open"),
    "image_unreadable": _l("the image does not decode"),
    "text_not_utf8": _l("the text is not valid UTF-8"),
    "undecryptable": _l("does not decrypt"),
    "key_not_live": _l("its key is not held by the key provider"),
    "attachment_undecryptable": _l("an attached file does not decrypt"),
    "plaintext_found": _l("record text found in clear in the vault's folders"),
}
CHECK_TRIGGERS = {
    "intake": _l("at intake"),
    "schedule": _l("on schedule"),
    "manual": _l("run by hand"),
    "transfer": _l("before a transfer"),
    "disposal": _l("before a disposal"),
}
# The portfolio's risk signs (抓两头: the core clients and the risky ones).
RISKS = {
    "credit_lapsed": _l("credit report lapsed"),
    "no_credit_report": _l("no credit report"),
    "review_overdue": _l("review overdue"),
    "many_returns": _l("many returns"),
    "ended_with_open_records": _l("relationship ended, records still open"),
    "check_faults": _l("four-properties check faults"),
    "loan_overdue": _l("a loan is overdue"),
}


def check_scope(scope: str) -> LazyString | str:
    """What a check run covered, in words."""
    if scope == "all":
        return _l("every record")
    kind, _sep, value = scope.partition(":")
    if kind == "client":
        return _l("client file %(code)s", code=value)
    if kind == "records":
        return _l("%(n)s records", n=value)
    return scope


USE_KINDS = {"record:consult": _l("Consultation"), "record:copy": _l("Copy")}

# What would change a decision explained on the "why" page (vault.oversight.decisions).
CHANGES = {
    "grant_ends": _l("It lasts while the grant is in force; after that, ask again."),
    "custody_holds": _l(
        "Custody is in effect: it holds while the designation stands and no leaving date is set."
    ),
    "nothing_leaving": _l("Nothing: a leaving date is set, and access has ended."),
    "nothing_auditor": _l(
        "Nothing: auditors never see content (separation of duties); the audit log is theirs."
    ),
    "auditor_clears": _l("An auditor looks into the use and clears the review."),
    "wait_quota_hour": _l(
        "Wait: the count of the last hour falls as earlier openings pass the hour."
    ),
    "wait_quota_day": _l("Wait: the count of the last day falls as earlier openings pass a day."),
    "wait_tenure": _l("Serve longer: the designation for this tier then takes effect."),
    "ask_grant": _l("Ask a custodian of this tier for a temporary grant."),
    "ask_admin": _l("Another rule refused it (a site rule, for instance): ask an administrator."),
}

ALERT_STATUSES = {"open": lazy_pgettext("alert", "Open"), "cleared": _l("Cleared")}

LOAN_STATUSES = {
    "out": _l("Out on loan"),
    "overdue": _l("Overdue"),
    "returned": _l("Returned"),
}

NOTIFICATION_KINDS = {
    "request_waiting": _l("Access request waiting"),
    "request_approved": _l("Access request approved"),
    "request_denied": _l("Access request turned down"),
    "loan_reminder": _l("Loan reminder"),
    "loan_overdue": _l("Loan overdue"),
    "alert": _l("Alert"),
}

# What an audit event is about (the keys of its resource).
RESOURCES = {
    "client": _l("Client"),
    "record": _l("Record"),
    "person": _l("Person"),
    "request": _l("Access request"),
    "grant": _l("Grant"),
    "alert": _l("Alert"),
    "attachment": _l("Attachment"),
    "designation": _l("Designation"),
    "key": _l("Key"),
    "proposal": _l("Proposal"),
    "session": _l("Session"),
    "site_policy": _l("Site policy"),
    "token": _l("API token"),
    "item": _l("Item"),
    "loan": _l("Loan"),
    "copy": _l("Copy"),
    "backup": _l("Backup"),
    "check_run": _l("Check run"),
    "hold": _l("Legal hold"),
    "disposal_batch": _l("Disposal batch"),
    "certificate": _l("Destruction certificate"),
    "retention_schedule": _l("Retention schedule"),
}

SECTION_NAMES = {key: SECTIONS[n] for n, key in SECTION_KEYS.items()}

# One name per vocabulary, for the ``label`` filter: ``{{ ev.outcome|label("outcome") }}``.
VOCABULARIES: dict[str, Mapping[str, LazyString]] = {
    "action": ACTIONS,
    "decision": DECISIONS,
    "outcome": OUTCOMES,
    "role": ROLES,
    "tier": TIERS,
    "section": SECTION_NAMES,
    "kind": KINDS,
    "relationship": RELATIONSHIPS,
    "request_status": REQUEST_STATUSES,
    "grant_status": GRANT_STATUSES,
    "grant_action": GRANT_ACTIONS,
    "item_kind": ITEM_KINDS,
    "condition": CONDITIONS,
    "proposal_kind": PROPOSAL_KINDS,
    "proposal_status": PROPOSAL_STATUS,
    "alert_kind": ALERT_KINDS,
    "alert_status": ALERT_STATUSES,
    "loan_status": LOAN_STATUSES,
    "notification_kind": NOTIFICATION_KINDS,
    "ground": GROUNDS,
    "resource": RESOURCES,
    "change": CHANGES,
    "check_property": CHECK_PROPERTIES,
    "check_code": CHECK_CODES,
    "check_trigger": CHECK_TRIGGERS,
    "risk": RISKS,
    "use_kind": USE_KINDS,
    "retention_state": RETENTION_STATES,
    "anchor": ANCHORS,
    "batch_status": BATCH_STATUSES,
}


STATUS_TITLES = {
    400: _l("The request could not be used"),
    401: _l("Please sign in"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Not possible here"),
    409: _l("Conflict"),
    413: _l("Too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
    502: _l("Service unavailable"),
    503: _l("Service unavailable"),
}

MESSAGES: dict[str, LazyString] = {
    # signing in
    "bad_credentials": _l("Wrong e-mail, password or one-time code."),
    "account_locked": _l(
        "Too many failed sign-ins for this account. Wait a few minutes, then try again."
    ),
    "too_many_attempts": _l(
        "Too many failed sign-ins from your network. Wait a few minutes, then try again."
    ),
    "totp_enrollment_required": _l(
        "Administrators sign in with a one-time code. Ask the operator to enrol you "
        "(archive-vault people enroll-totp)."
    ),
    "unauthenticated": _l("Please sign in."),
    "invalid_token": _l("The access token is not valid."),
    "csrf_failed": _l(
        "The form expired or did not come from this site. Reload the page and try again."
    ),
    "sso_not_configured": _l("Single sign-on is not set up for this vault."),
    "sso_unavailable": _l(
        "The sign-in service (identity provider) cannot be reached right now. Try again in a "
        "few minutes, or sign in with a local password if you have one."
    ),
    "sso_access_denied": _l("The identity provider did not sign you in."),
    "sso_provider_error": _l("The identity provider reported an error. Start again."),
    "sso_bad_state": _l(
        "This sign-in was not started from this browser, or took too long. Start again."
    ),
    "sso_wrong_issuer": _l("The answer did not come from the configured identity provider."),
    "sso_bad_nonce": _l("The identity provider's answer does not belong to this sign-in."),
    "sso_invalid_id_token": _l("The identity provider's token could not be verified."),
    "sso_token_exchange_failed": _l("The identity provider did not accept the sign-in code."),
    "sso_bad_claims": _l("The identity provider did not send a usable e-mail address or date."),
    "sso_email_taken": _l("This e-mail address belongs to another account of the vault."),
    "retry": _l("Someone did the same at the same moment. Try again."),
    # the policy
    "person_departing": _l("A leaving date is set for you: your access to the vault has ended."),
    "person_disabled": _l("Your account is disabled: you have left the company."),
    "role_required": _l("This page needs a role you do not hold."),
    "no_grant": _l(
        "Only designated custodians, or holders of an approved grant, may see this content."
    ),
    "grant_does_not_cover_consult": _l(
        "Your grant on this record does not include consulting it: ask for one that does."
    ),
    "grant_does_not_cover_copy": _l(
        "Your grant on this record does not include making a copy: ask for one that does."
    ),
    "grant_does_not_cover_lend": _l(
        "Your grant on this record does not include borrowing its items: ask for one that does."
    ),
    "tenure_too_short": _l(
        "Custody of this tier needs more years of service than you have served."
    ),
    "tier_out_of_scope": _l(
        "You are a custodian for other tiers than this client's: ask for a temporary grant."
    ),
    "auditor_no_content": _l("Auditors read the audit log, never record content."),
    "not_custodian": _l("Only custodians of this client's tier may do this."),
    "not_depositor": _l(
        "Only the person who deposited this record, or a custodian of its client, may add files."
    ),
    "under_review": _l(
        "You are under review after opening many records; an auditor must clear you."
    ),
    "export_quota_exceeded": _l(
        "You opened too many different records in a short time; an auditor must clear you."
    ),
    "self_designation": _l("Nobody may designate themselves."),
    "not_own_question": _l("Only administrators and auditors ask this about someone else."),
    "designation_needs_admin": _l("A designation needs an administrator."),
    "policy_error": _l("The policy could not be evaluated, so nothing was allowed."),
    "undeclared_route": _l("This page declares no policy action, so it is never served."),
    # reading room and catalogue
    "purpose_required": _l("State the purpose of your consultation (3 to 500 characters)."),
    "record_not_found": _l("There is no such record."),
    "client_not_found": _l("There is no such client."),
    "check_run_not_found": _l("There is no such check run."),
    "pdf_font_missing": _l("No font that writes Chinese is installed, so no PDF is made."),
    "invalid_scope": _l("Check every record, or one client's file."),
    "invalid_trigger": _l("That is not a reason to run the check."),
    "invalid_period": _l("Give the period as two dates, the first not after the second."),
    "person_not_found": _l("There is no such person."),
    "token_not_found": _l("There is no such token."),
    "attachment_not_found": _l("There is no such attachment."),
    "event_not_found": _l("There is no such audit event."),
    "unknown_language": _l("This language is not available."),
    "decryption_failed": _l("The record could not be decrypted; the failure is recorded."),
    "copy_format_unsupported": _l(
        "This record's format cannot carry a watermark, so it is not copied."
    ),
    "invalid_section": _l("Choose one of the four sections of the client file."),
    "invalid_title": _l("The title needs 1 to 300 characters."),
    "invalid_year": _l("The year is out of range."),
    "invalid_valid_until": _l("Only credit reports have a validity date."),
    "content_too_large": _l("The content is larger than allowed."),
    "missing_content": _l("Write the content or attach a file."),
    "invalid_content": _l("The content could not be read."),
    "missing_section": _l("Choose one of the four sections of the client file."),
    "missing_title": _l("The title needs 1 to 300 characters."),
    "missing_client_id": _l("Choose a client."),
    "invalid_client_id": _l("Choose a client."),
    "invalid_page": _l("There is no such page."),
    "page_too_large": _l("Too many rows asked for at once."),
    "invalid_doc_date": _l("Dates are written YYYY-MM-DD."),
    "invalid_since": _l("Dates are written YYYY-MM-DD."),
    "invalid_until": _l("Dates are written YYYY-MM-DD."),
    "invalid_hired_on": _l("Dates are written YYYY-MM-DD."),
    "invalid_leaving_on": _l("Dates are written YYYY-MM-DD."),
    "invalid_person": _l("Give a person's e-mail address or number."),
    "invalid_record": _l("A record is given by its number or its file number."),
    "invalid_client": _l("A client is given by its number or its code."),
    "invalid_after": _l("There is no such page."),
    "invalid_year_filter": _l("The year is out of range."),
    "invalid_action": _l("There is no such action."),
    "invalid_decision": _l("There is no such decision."),
    # access requests and grants
    "invalid_actions": _l("Choose what you need: consult, copy or borrow."),
    "copy_needs_single_record": _l("Copies are asked for one record, never a whole file."),
    "invalid_duration": _l("The duration is out of range."),
    "invalid_request_target": _l("Name one record or one client file."),
    "request_not_found": _l("There is no such request."),
    "grant_not_found": _l("There is no such grant."),
    "request_approved": _l("This request is already approved."),
    "request_denied": _l("This request was turned down."),
    "request_withdrawn": _l("This request was withdrawn."),
    "request_expired": _l("This request has expired."),
    "already_approved": _l("You already approved this request."),
    "requester_departing": _l("The requester is leaving: the request cannot be approved."),
    "self_approval": _l("Nobody approves or turns down their own request."),
    "grant_revoked": _l("This grant is already revoked."),
    "not_under_review": _l("This person is not under review."),
    "note_required": _l("Say why, in a few words."),
    "notification_not_found": _l("There is no such notification."),
    "invalid_status": _l("There is no such status."),
    # custody
    "item_not_found": _l("There is no such item."),
    "invalid_kind": _l("Choose what kind of item it is."),
    "invalid_label": _l("The label needs 1 to 200 characters."),
    "invalid_location": _l("Say where the item is kept (1 to 200 characters)."),
    "invalid_days": _l("The loan period is out of range."),
    "invalid_pages": _l("Give the number of pages."),
    "item_on_loan": _l("This item is already out on loan."),
    "item_not_on_loan": _l("This item is not out on loan."),
    "renewal_limit": _l("A loan may be renewed once."),
    "item_requested": _l("Someone else is waiting for this item: it cannot be renewed."),
    "invalid_condition": _l("Choose the condition the item came back in."),
    # people and tokens
    "invalid_email": _l("That is not an e-mail address."),
    "invalid_name": _l("The name needs 1 to 200 characters."),
    "invalid_hire_date": _l("The hire date cannot be in the future."),
    "invalid_role": _l("Unknown role."),
    "custodian_not_a_role": _l(
        "Custodian is not a role: administrators designate custodians for client tiers."
    ),
    "invalid_tier": _l("Choose at least one tier: core, special or general."),
    "person_exists": _l("Someone with this e-mail address already exists."),
    "token_revoked": _l("This token is already revoked."),
    "weak_password": _l("A password needs 12 to 256 characters."),
    "invalid_leaving_date": _l("The leaving date is out of range."),
    "self_departure": _l("Another administrator must set your own leaving date."),
    # the two-person rule
    "same_person_approval": _l(
        "A second administrator must approve this: nobody approves their own proposal."
    ),
    "subject_approval": _l("Nobody approves what concerns themselves."),
    "self_proposal": _l("Nobody proposes this for themselves: ask another administrator."),
    "proposal_needs_admin": _l("This needs an administrator, and a second one to approve it."),
    "proposal_expired": _l("This proposal expired after 7 days: propose it again."),
    "proposal_decided": _l("This proposal has already been decided."),
    "proposal_pending": _l("The same proposal is already waiting for a second administrator."),
    "proposal_stale": _l("The person's details changed since this was proposed."),
    "proposal_not_found": _l("There is no such proposal."),
    "missing_reason": _l("Say why: a reason is required (at least three words for access)."),
    "invalid_reason": _l("The reason is too long (500 characters at most)."),
    "missing_note": _l("Say why the proposal is turned down."),
    "invalid_note": _l("The note is too long (500 characters at most)."),
    "role_held": _l("This person already holds that role."),
    "hire_date_confirmed": _l("This hire date is already confirmed."),
    "no_leaving_date": _l("This person has no leaving date."),
    "not_proposer": _l("Only the administrator who proposed it may withdraw it."),
    "key_active": _l("The active key cannot be retired: rotate the keys first."),
    "key_in_use": _l("This key still wraps data keys: re-wrap them first."),
    "audit_keys_rotated": _l("The audit keys were rotated since: propose again."),
    "audit_rotation_unsupported": _l("This vault's audit keys cannot be rotated from here."),
    "key_not_found": _l("There is no such key in the keyring."),
    "invalid_policy": _l("The site policy does not validate against the schema."),
    "algorithms_set": _l("This vault's algorithms were chosen when it was set up."),
    "audit_algorithm_unsupported": _l(
        "This key provider cannot compute the audit log's HMAC-SM3: keep its key in the key file."
    ),
    "backup_exists": _l("Back up into a new, empty folder."),
    "backup_tampered": _l("The backup was changed or is not this vault's: it is refused."),
    "backup_backend": _l("The backup is of another kind of database than this vault's."),
    "vault_not_empty": _l("A backup is restored only into a new, empty vault."),
    # the service
    "storage_unavailable": _l("The request could not be recorded, so it did not happen."),
    "internal_error": _l("The request did not complete."),
    "not_found": _l("There is nothing here."),
    "method_not_allowed": _l("This page cannot be used this way."),
    "too_large": _l("What you sent is too large."),
    "bad_request": _l("The request could not be used."),
    "unsupported_media_type": _l("This kind of upload is not accepted."),
    # the spreadsheet import
    "missing_file": _l("Choose a file to send."),
    "import_unsupported_file": _l("The import reads .xlsx or .csv files only."),
    "import_unknown_column": _l(
        "The sheet has a column the import does not know. Rename it to one of the headers "
        "listed below, or remove it."
    ),
    "import_missing_column": _l(
        "A column the import needs is missing. Add it under one of the headers listed below."
    ),
    "import_duplicate_column": _l("Two columns of the sheet name the same thing: keep one."),
    "import_bad_encoding": _l('The CSV file is not in UTF-8: save it as "CSV UTF-8".'),
    "import_bad_csv": _l("The CSV file cannot be read."),
    "import_bad_xlsx": _l("The file is not a readable .xlsx workbook."),
    "import_empty": _l("The file is empty."),
    "import_too_large": _l("The file has too many rows for one import."),
    # own tokens, sessions, an admin's second factor
    "second_factor_required": _l(
        "Administrators need a second factor: sign in at the identity provider with one "
        "(a one-time code or a security key), or ask the operator to enrol a one-time code "
        "in the vault."
    ),
    "not_own_credential": _l("API tokens belong to their holder alone."),
    "browser_session_required": _l(
        "Create API tokens from your own page, signed in with your browser, not with a token."
    ),
    "invalid_token_label": _l("Name the token (1 to 100 characters), e.g. the script using it."),
    # one's own account
    "wrong_password": _l(
        "The current password is wrong. Failed tries count toward locking the account."
    ),
    "wrong_code": _l(
        "The current one-time code is wrong. Failed tries count toward locking the account."
    ),
    "password_mismatch": _l("The new password was not typed the same twice."),
    "wrong_new_code": _l("That code is not one of the new secret: type the code it shows now."),
    "totp_pending_expired": _l("The new secret is no longer valid: make a new one."),
    "no_local_password": _l("Your password is managed by your identity provider: change it there."),
    "not_own_account": _l(
        "Only the person themselves changes their password or one-time code; an "
        "administrator resets them through the operator on the server."
    ),
    "account_browser_only": _l(
        "Change your password or one-time code from your own page, signed in with your "
        "browser, not with a token."
    ),
    # sensitive lookups and the page quota
    "sensitive_in_url": _l(
        "Tax ids and bank accounts are never put in a web address: use the lookup form."
    ),
    "invalid_lookup": _l("Give a tax id or a bank account to look up."),
    "invalid_tax_id": _l("A tax id has at most 64 characters."),
    "invalid_bank_account": _l("A bank account has at most 64 characters."),
    "page_quota_exceeded": _l(
        "You read too many catalogue pages in a short time; the auditors have been told."
    ),
    # the catalogue, imports and copies
    "client_exists": _l("A client with this code already exists."),
    "invalid_client_code": _l("A client code has 2 to 32 of A-Z, 0-9 and _."),
    "copy_not_found": _l("The audit log has no such copy."),
    "copy_unreadable": _l("The record's content could not be read for a copy."),
    "no_watermark": _l("This file carries no watermark of the vault."),
    "import_unknown_value": _l("A cell holds a value the import does not know."),
    # alerts
    "alert_not_found": _l("There is no such alert."),
    "alert_cleared": _l("This alert is already cleared."),
    # keys, settings and proposals
    "invalid_batch": _l("The batch size is out of range."),
    "invalid_key_id": _l("There is no such key."),
    "invalid_key_provider": _l("The keys cannot be moved to that provider."),
    "invalid_setting": _l("A setting of the vault is out of range."),
    "key_provider_settings": _l("The key provider is missing a setting."),
    "blob_store_settings": _l("The blob store is missing a setting or is unknown."),
    "invalid_background": _l("The background setting must be app or worker."),
    "retirement_unsupported": _l("This key provider retires its keys itself."),
    "rotation_unsupported": _l("This key provider rotates its keys itself."),
    "missing_person": _l("This proposal is about a person: name them."),
    "missing_record_id": _l("This act needs a record."),
    "missing_text": _l("Give the site policy's text."),
    "policy_too_long": _l("The site policy is too long."),
    "unknown_proposal_kind": _l("There is no such kind of proposal."),
    # appraisal: retention, legal holds, disposal
    "record_disposed": _l(
        "This record was disposed of under the retention schedule: its content no longer "
        "exists, only its catalogue entry."
    ),
    "record_held": _l("A legal hold keeps this record: it cannot be disposed of."),
    "record_not_due": _l("This record is not past its retention date."),
    "record_in_batch": _l("This record is already in a disposal batch waiting for approval."),
    "invalid_schedule": _l("The retention schedule is not valid."),
    "batch_decided": _l("This disposal batch has already been decided."),
    "batch_not_found": _l("There is no such disposal batch."),
    "batch_approved": _l("This batch already has that approval."),
    "no_countersign_needed": _l("This batch holds no core records: no countersignature is needed."),
    "custodian_required": _l("A custodian of these clients must do this."),
    "admin_required": _l("An administrator must do this."),
    "invalid_hold_target": _l("Name a client or a list of records to hold."),
    "too_many_records": _l("Too many records at once."),
    "hold_not_found": _l("There is no such legal hold."),
    "hold_lifted": _l("This legal hold was already lifted."),
    "missing_hold": _l("Name the legal hold."),
    "certificate_not_found": _l("This batch has no destruction certificate (not carried out)."),
    "missing_record_ids": _l("Name the records."),
    "invalid_record_ids": _l("Record numbers are whole numbers."),
    "invalid_signature": _l("That file holds no signature."),
    "invalid_ended_on": _l("The relationship's end cannot be in the future."),
    "already_ended": _l("The relationship already ended on that day."),
}


# Notifications, written from their message and values in the reader's language.
NOTIFICATION_SUBJECTS = {
    "request_waiting": _l("Access request #%(request)s waits for you: %(target)s"),
    "request_second_approval": _l("Access request #%(request)s needs a second approval"),
    "request_approved": _l("Your access request #%(request)s was approved"),
    "request_denied": _l("Your access request #%(request)s was turned down"),
    "loan_reminder": _l("Reminder %(number)s: %(label)s (%(file_number)s) is due %(when)s UTC"),
    "loan_overdue": _l("Reminder %(number)s: %(label)s (%(file_number)s) was due %(when)s UTC"),
    "alert": _l("Alert: %(kind)s"),
}
NOTIFICATION_BODIES = {
    "request_waiting": _l("%(requester)s asks to %(actions)s %(target)s."),
    "request_approved": _l("Access until %(until)s UTC."),
    "loan_reminder": _l(
        "Please bring it back to the archive by then, or ask the custodian to renew it."
    ),
    "loan_overdue": _l("Please bring it back to the archive now."),
    "lender_overdue": _l("%(borrower)s has not returned it."),
}


def notification_text(kind: str, params: Mapping[str, object] | None) -> tuple[str, str] | None:
    """A notification's subject and body in the reader's language, from its message and
    values; None for a row stored before notifications kept them (show it as stored)."""
    if not params:
        return None
    text = str(params.get("text") or kind)
    values: dict[str, object] = {k: ("" if v is None else v) for k, v in params.items()}
    if text in ("request_waiting",):
        values["target"] = params.get("file_number") or _l(
            "client file %(code)s", code=str(params.get("client") or "")
        )
        actions = params.get("actions") or []
        values["actions"] = str(lazy_pgettext("list separator", ", ")).join(
            str(label(a, "grant_action")) for a in (actions if isinstance(actions, list) else [])
        )
    if text == "alert":
        values["kind"] = label(str(params.get("kind") or ""), "alert_kind")
    if text == "loan_reminder" and params.get("overdue"):
        text = "loan_overdue"
    subject = NOTIFICATION_SUBJECTS.get(text)
    if subject is None:
        return None
    body_text = NOTIFICATION_BODIES.get("lender_overdue" if "borrower" in params else text)
    try:
        body = str(body_text) % values if body_text is not None else ""
        written = str(subject) % values
    except (KeyError, TypeError, ValueError):
        return None
    if text == "request_denied":
        body = str(params.get("note") or "")
    if text == "alert":
        values_of = params.get("values")
        body = alert_summary(
            str(params.get("kind") or ""), values_of if isinstance(values_of, Mapping) else None
        ) or str(params.get("summary") or "")
    return written, body


# Alert summaries, written from their values in the reader's language.
ALERT_SUMMARIES = {
    "quota_exceeded": _l(
        "%(email)s crossed the export quota (%(hour)s/%(hour_limit)s per hour, "
        "%(day)s/%(day_limit)s per day) opening record %(record)s"
    ),
    "quota_exceeded_lookup": _l(
        "%(email)s crossed the export quota (%(hour)s/%(hour_limit)s per hour, "
        "%(day)s/%(day_limit)s per day) looking up a client by %(lookup)s"
    ),
    "page_quota_exceeded": _l(
        "%(email)s read too many list pages (%(hour)s/%(hour_limit)s per hour, "
        "%(day)s/%(day_limit)s per day), the last of the %(page)s"
    ),
    "departing_access": _l("%(email)s (leaving %(leaving_on)s) tried to open record %(record)s"),
    "departed_access": _l("%(email)s (left %(leaving_on)s) tried: %(action)s"),
    "loan_returned_short": _l(
        "%(label)s (%(file_number)s) came back with %(pages_in)s of %(pages_out)s pages, "
        "condition: %(condition)s"
    ),
    "loan_damaged": _l(
        "%(label)s (%(file_number)s) came back with %(pages_in)s of %(pages_out)s pages, "
        "condition: %(condition)s"
    ),
    "departure_use_rise": _l(
        "%(email)s (leaving %(leaving_on)s) used records %(weekly_after)s times a week "
        "since notice on %(notice_on)s, against %(weekly_before)s before"
    ),
    "check_failed": _l(
        "Four-properties check %(run)s found %(failures)s faults: authenticity "
        "%(authenticity)s, integrity %(integrity)s, usability %(usability)s, security "
        "%(security)s"
    ),
}
ALERT_PAGE_LISTS = {"catalogue": _l("record catalogue"), "clients": _l("client list")}
ALERT_LOOKUPS = {"tax_id": _l("tax id"), "bank_account": _l("bank account")}


def alert_summary(kind: str, params: Mapping[str, object] | None) -> str | None:
    """An alert's summary in the reader's language, from its values; None for a row stored
    before alerts kept them, or a kind without its words here (show the stored line)."""
    if not params:
        return None
    values: dict[str, object] = {k: ("—" if v is None else v) for k, v in params.items()}
    key = kind
    if kind == "quota_exceeded" and params.get("record") is None:
        key = "quota_exceeded_lookup"
        lookup = str(params.get("lookup") or "")
        values["lookup"] = ALERT_LOOKUPS.get(lookup, lookup)
    if kind == "page_quota_exceeded":
        page = str(params.get("page") or "")
        values["page"] = ALERT_PAGE_LISTS.get(page, page)
    if "condition" in params:
        values["condition"] = label(str(params.get("condition") or ""), "condition")
    if "action" in params:
        values["action"] = label(str(params.get("action") or ""), "action")
    template = ALERT_SUMMARIES.get(key)
    if template is None:
        return None
    try:
        return str(template) % {k: str(v) for k, v in values.items()}
    except (KeyError, TypeError, ValueError):
        return None


def alert_text(alert: object) -> str:
    """What a page shows as an alert's summary: its words, or the stored line."""
    kind = str(getattr(alert, "kind", ""))
    params = getattr(alert, "params", None)
    return alert_summary(kind, params) or str(getattr(alert, "summary", ""))


def describe_proposal(kind: str, payload: Mapping[str, object]) -> str | None:
    """One line saying what a proposal would do, in the reader's language (None: a kind
    without its words here; the service's own line is shown then)."""
    day = str(payload.get("hired_on") or payload.get("leaving_on") or "")
    if kind == "designation":
        tiers = payload.get("tiers")
        return str(lazy_pgettext("list separator", ", ")).join(
            str(label(t, "tier")) for t in (tiers if isinstance(tiers, list) else [])
        )
    if kind == "role_grant":
        return str(label(str(payload.get("role") or ""), "role"))
    if kind == "hire_date_confirm":
        return str(_l("confirm hire date %(day)s", day=day))
    if kind == "hire_date_change":
        return str(_l("hire date %(day)s", day=day))
    if kind == "departure_withdraw":
        return str(_l("take back leaving date %(day)s", day=day))
    if kind == "departure_postpone":
        return str(
            _l(
                "postpone leaving date %(old)s to %(new)s",
                old=str(payload.get("from") or ""),
                new=day,
            )
        )
    if kind == "key_retire":
        return str(payload.get("key_id") or "")
    if kind == "audit_rotate_keys":
        return str(payload.get("current") or "")
    if kind == "site_policy":
        if not payload.get("text"):
            return str(_l("remove the site policy"))
        return str(
            _l(
                "site policy sha256 %(hash)s, %(lines)d lines",
                hash=str(payload.get("sha256") or "")[:16],
                lines=str(payload["text"]).count("\n") + 1,
            )
        )
    return None


def proposal_line(proposal: Proposal) -> str:
    """What a proposal would do, in words (the service's line for a kind not known here)."""
    found = describe_proposal(proposal.kind, proposal.payload or {})
    return found if found is not None else proposals.describe(proposal)


def reason(code: str | None) -> LazyString | str:
    """An audit event's reason in words: why it was refused, or on what ground allowed."""
    if not code:
        return "—"
    return GROUNDS.get(code) or MESSAGES.get(code) or ALERT_KINDS.get(code) or code


def label(code: object, vocabulary: str | None = None) -> LazyString | str:
    """The words for a code the pages show (the code itself if it is new: a test fails then).

    With ``vocabulary`` the code is looked up there (``pending`` is not the same word for a
    request and a proposal); without, in every vocabulary in turn, then the reasons.
    """
    if code is None or code == "":
        return "—"
    key = str(code)
    if vocabulary == "reason":
        return reason(key)
    if vocabulary is not None:
        return VOCABULARIES[vocabulary].get(key, key)
    for words in VOCABULARIES.values():
        if key in words:
            return words[key]
    return reason(key)


def _known(code: str) -> bool:
    return any(code in words for words in VOCABULARIES.values())


def detail(value: object, key: str = "") -> object:
    """An audit event's detail value: codes in words (also a comma-joined list of them);
    in a service's own ``summary`` line, its codes in words; anything else (what people
    wrote) exactly as it is."""
    if not isinstance(value, str) or not value:
        return value
    parts = [p.strip() for p in value.split(",")]
    if all(_known(p) for p in parts):
        return str(lazy_pgettext("list separator", ", ")).join(str(label(p)) for p in parts)
    if key == "summary":
        return " ".join(str(label(w)) if _known(w) else w for w in value.split(" "))
    return value if len(parts) > 1 else label(value)


def detail_key(key: str) -> LazyString | str:
    """The name of an audit event's detail: in words when it names a thing (a resource)."""
    return RESOURCES.get(key, key)


def change(c: Change) -> LazyString | str:
    """What would change a decision, in words, with its figure (days, the grant's end)."""
    if c.kind == "wait_tenure" and c.days is not None:
        return _l(
            "Serve %(days)d more days: the designation for this tier then takes effect.",
            days=c.days,
        )
    if c.kind == "ask_grant" and c.verb:
        return _l(
            "Ask a custodian of this tier for a temporary grant that includes: %(what)s.",
            what=GRANT_ACTIONS.get(c.verb, c.verb),
        )
    if c.kind == "grant_ends" and c.until is not None:
        return _l(
            "It lasts until the grant ends (%(time)s UTC); after that, ask again.",
            time=c.until.strftime("%Y-%m-%d %H:%M"),
        )
    return CHANGES.get(c.kind, c.kind)


def message_for(code: str, status: int) -> LazyString:
    """The sentence for an error code (a generic one by status if the code is new)."""
    return MESSAGES.get(code) or STATUS_TITLES.get(status) or STATUS_TITLES[400]


def title_for(status: int) -> LazyString:
    """A page title for an HTTP status."""
    return STATUS_TITLES.get(status) or STATUS_TITLES[400 if status < 500 else 500]
