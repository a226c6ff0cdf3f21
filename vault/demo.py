"""Demo data: people in every role, clients in every tier, records in every section."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault import proposals
from vault.archive import records
from vault.caller import Caller
from vault.identity import accounts
from vault.identity import tokens as tokens_
from vault.models import Person
from vault.people import designations, directory
from vault.runtime import Vault

PEOPLE = [
    # env var, email, name, years of service, roles
    ("ADMIN_TOKEN", "admin@demo.example", "Ada Admin", 12, ("employee", "admin")),
    ("AUDITOR_TOKEN", "auditor@demo.example", "Aldo Auditor", 9, ("employee", "auditor")),
    ("CUSTODIAN_TOKEN", "custodian@demo.example", "Li Wei (senior custodian)", 15, ("employee",)),
    ("NEWHIRE_TOKEN", "newhire@demo.example", "Nina New (custodian, new hire)", 0, ("employee",)),
    ("EMPLOYEE_TOKEN", "sales@demo.example", "Sam Sales", 4, ("employee",)),
    ("EMPLOYEE2_TOKEN", "sales2@demo.example", "Sue Sales", 2, ("employee",)),
    ("CUSTODIAN2_TOKEN", "custodian2@demo.example", "Wang Fang (custodian)", 8, ("employee",)),
    # The second admin: designations, hire dates and roles need two (DESIGN §3.10).
    ("ADMIN2_TOKEN", "admin2@demo.example", "Otto Admin (second admin)", 11, ("employee", "admin")),
    # Each README walk has its own people, so the walks run in order from one fresh demo:
    # Lou asks for temporary access and then gives notice (the departure walk); Kim is the
    # colleague without a grant in the custody walk.
    ("LEAVER_TOKEN", "leaver@demo.example", "Lou Leaver", 6, ("employee",)),
    ("CLERK_TOKEN", "clerk@demo.example", "Kim Clerk", 3, ("employee",)),
]

CLIENTS = [
    ("ACME", "Acme Trading Co.", "core", "company", "91310000MA1FL0001X", "6222 0200 1234 5678"),
    ("CITYGOV", "City Procurement Office", "special", "government", None, None),
    ("BLUESKY", "Blue Sky Retail Ltd.", "general", "company", "91440300MA5F00002Y", None),
]

RECORDS = [
    ("basic", "Visit report, spring", "Met the purchasing director; expanding to two provinces."),
    ("credit", "Credit report", "Credit rating A-; payment terms net 60; no overdue debts."),
    ("transactions", "Framework contract", "Supply contract, 3 years, volume discount 4%."),
    ("returns", "Return of damaged goods", "12 cartons damaged in transit; credit note issued."),
]


def has_people(db: Session) -> bool:
    """Whether the vault already holds people (the demo then keeps them and their data)."""
    return bool(db.scalar(select(func.count()).select_from(Person)))


def load_demo(v: Vault, db: Session, *, force: bool = False) -> dict[str, tuple[str, str]]:
    """Load the demo (once) and issue fresh tokens; returns {env var: (email, token)}."""
    operator = Caller.operator()
    today = date.today()
    if force or not has_people(db):
        for _var, email, name, years, roles in PEOPLE:
            hired = (
                today - timedelta(days=30) if years == 0 else today.replace(year=today.year - years)
            )
            directory.add_person(
                v, db, operator, email=email, name=name, hired_on=hired, roles=roles
            )
        _two_admins(v, db)
        sales = Caller(person=directory.get_by_email(db, "sales@demo.example"), subject="demo")
        for code, name, tier, kind, tax_id, bank in CLIENTS:
            client = records.create_client(
                v,
                db,
                sales,
                code=code,
                name=name,
                tier=tier,
                kind=kind,
                tax_id=tax_id,
                bank_account=bank,
            )
            for section, title, text in RECORDS:
                records.deposit(
                    v,
                    db,
                    sales,
                    records.Deposit(
                        client_id=client.id,
                        section=section,
                        title=f"{title} ({name})",
                        content=f"{title} for {name}. {text}".encode(),
                        valid_until=today + timedelta(days=180) if section == "credit" else None,
                    ),
                )
        _demo_custody(v, db)
        _demo_appraisal(v, db)
    tokens = {}
    for var, email, *_ in PEOPLE:
        person = directory.get_by_email(db, email)
        tokens[var] = (email, tokens_.issue_token(v, db, operator, person, "demo"))
    return tokens


def _two_admins(v: Vault, db: Session) -> None:
    """The two-person rule at work: Ada proposes, Otto approves (and the other way round).

    The hire dates and roles the operator entered are approved; three designations are
    proposed by Ada and approved by Otto; one (Sue Sales, general) is left pending.
    """
    ada = Caller(person=directory.get_by_email(db, "admin@demo.example"), subject="demo")
    otto = Caller(person=directory.get_by_email(db, "admin2@demo.example"), subject="demo")
    # Ada first (Otto's admin role among them), then Otto confirms Ada's hire date.
    for p in proposals.pending(db):
        if p.subject_id != ada.person_id:
            proposals.approve(v, db, ada, p, "checked against the HR file")
    for p in proposals.pending(db, subject=ada.person):
        proposals.approve(v, db, otto, p, "checked against the HR file")
    for email, tiers in (
        ("custodian@demo.example", ["core", "special", "general"]),
        ("custodian2@demo.example", ["core", "special"]),
        ("newhire@demo.example", ["general", "special", "core"]),
    ):
        person = directory.get_by_email(db, email)
        p = designations.designate(v, db, ada, person, tiers, reason="keeps these clients' files")
        proposals.approve(v, db, otto, p, "agreed")
    designations.designate(
        v,
        db,
        ada,
        directory.get_by_email(db, "sales2@demo.example"),
        ["general"],
        reason="covers the general clients while the team grows",
    )


def _demo_custody(v: Vault, db: Session) -> None:
    """Folders on the shelves, one of them lent out and overdue, and a scanned PDF contract."""
    from reportlab.pdfgen import canvas

    from vault.custody import loans
    from vault.db import utcnow
    from vault.models import Client, Record, Section

    custodian = Caller(person=directory.get_by_email(db, "custodian@demo.example"), subject="demo")
    contracts = db.scalars(
        select(Record).where(Record.section == int(Section.TRANSACTIONS)).order_by(Record.id)
    ).all()
    items = [
        loans.add_item(
            v,
            db,
            custodian,
            record.id,
            kind="folder",
            label=f"Contract folder {record.file_number}",
            location=f"Room 2, shelf B{n}",
        )
        for n, record in enumerate(contracts, start=1)
    ]
    # ACME's contract folder went out three weeks ago for two weeks: it is overdue.
    loan = loans.checkout(
        v,
        db,
        custodian,
        items[0].id,
        directory.get_by_email(db, "custodian2@demo.example"),
        pages=24,
        purpose="prepare the annual review with ACME",
    )
    loan.out_at = utcnow() - timedelta(days=21)
    loan.due_at = loan.out_at + timedelta(days=v.config.loan_days_default)
    bluesky = db.scalar(select(Client).where(Client.code == "BLUESKY"))
    assert bluesky is not None
    scan = io.BytesIO()
    pdf = canvas.Canvas(scan, pagesize=(595, 842))
    for page in (1, 2):
        pdf.drawString(72, 760, f"Blue Sky Retail Ltd. - signed supply contract, page {page}")
        pdf.drawString(72, 740, "Delivery within 10 days; payment net 45; penalty 0.05 %/day.")
        pdf.showPage()
    pdf.save()
    records.deposit(
        v,
        db,
        custodian,
        records.Deposit(
            client_id=bluesky.id,
            section="transactions",
            title="Signed supply contract (scan)",
            content=scan.getvalue(),
            content_type="application/pdf",
            doc_type="contract",
        ),
    )
    # Dynamic management: a former client's only credit survey has lapsed, and ACME's file
    # was opened (and never reviewed) longer ago than the core tier's 60-day cycle.
    harbour = records.create_client(
        v,
        db,
        custodian,
        code="OLDHARBOUR",
        name="Old Harbour Shipping",
        tier="general",
        relationship="former",
    )
    surveyed = date.today() - timedelta(days=400)
    records.deposit(
        v,
        db,
        custodian,
        records.Deposit(
            client_id=harbour.id,
            section="credit",
            title="Credit survey (last year)",
            content=b"Rating B+; pays on time; budget approved yearly.",
            year=surveyed.year,
            doc_date=surveyed,
            valid_until=records.add_months(surveyed, 12),
        ),
    )
    acme = db.scalar(select(Client).where(Client.code == "ACME"))
    assert acme is not None
    acme.created_at = utcnow() - timedelta(days=75)


# Appraisal: former clients whose records are past their retention dates (contracts 10
# years after the relationship ended, visit notes 5 years after their year), one of them
# a core client (its disposal needs a second custodian), and one under a legal hold.
APPRAISAL = [
    ("FORMERCO", "Former Components Ltd.", "general", [
        ("transactions", 2011, "contract", "Supply contract 2011"),
        ("basic", 2013, "visit_note", "Visit notes 2013"),
    ], None),
    ("OLDCORE", "Old Core Metals", "core", [
        ("transactions", 2012, "contract", "Framework contract 2012"),
    ], None),
    ("DISPUTED", "Disputed Logistics", "general", [
        ("transactions", 2010, "contract", "Carriage contract 2010"),
    ], "litigation: claim 2026-117 (legal department)"),
]  # fmt: skip


def _demo_appraisal(v: Vault, db: Session) -> None:
    """Former clients with records past their dates; one client file under a legal hold."""
    from vault.appraisal import holds, retention

    custodian = Caller(person=directory.get_by_email(db, "custodian@demo.example"), subject="demo")
    ended = retention.add_years(date.today(), -12)
    for code, name, tier, filed, hold in APPRAISAL:
        client = records.create_client(
            v, db, custodian, code=code, name=name, tier=tier, relationship="former"
        )
        for section, year, doc_type, title in filed:
            records.deposit(
                v,
                db,
                custodian,
                records.Deposit(
                    client_id=client.id,
                    section=section,
                    title=title,
                    content=f"{title} for {name}.".encode(),
                    year=year,
                    doc_type=doc_type,
                ),
            )
        retention.end_relationship(v, db, custodian, client.id, ended)
        if hold:
            holds.place(v, db, custodian, reason=hold, client_id=client.id)


@dataclass(frozen=True)
class DemoLogin:
    """A demo person's web sign-in: a fresh password, and a TOTP secret for admins."""

    email: str
    password: str
    totp_secret: str | None = None


def demo_logins(v: Vault, db: Session) -> list[DemoLogin]:
    """Give every demo person a fresh local password (admins a fresh one-time-code secret)."""
    operator = Caller.operator()
    logins = []
    for _var, email, _name, _years, roles in PEOPLE:
        person = directory.get_by_email(db, email)
        password = "demo-" + secrets.token_urlsafe(9)
        accounts.set_password(v, db, operator, person, password)
        secret = None
        if "admin" in roles:
            secret = accounts.enroll_totp(v, db, operator, person).secret
        logins.append(DemoLogin(email, password, secret))
    return logins
