"""Physical items (folders, media) holding a record: register, look up, lend, take back."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vault.custody import loans
from vault.models import Item
from vault.models.custody import Condition
from vault.people import directory
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.loans import LoanCard
from vault.web.api.schema import Body, Lower, Purpose, Reply, Timestamp, as_enum
from vault.web.context import caller, db, vault
from vault.web.routing import route

Pages = Annotated[int, Field(ge=0, le=loans.MAX_PAGES, description="page count")]
Days = Annotated[int, Field(ge=0, le=3650, description="loan length in days")]
Shelf = Annotated[str, Field(min_length=1, max_length=200)]


class ItemCard(Reply):
    """An item's card."""

    id: int
    record_id: int
    kind: str
    label: str
    location: str
    created_at: Timestamp

    @classmethod
    def of(cls, item: Item) -> ItemCard:
        return cls(
            id=item.id,
            record_id=item.record_id,
            kind=item.kind,
            label=item.label,
            location=item.location,
            created_at=item.created_at.isoformat(),
        )


class Move(Reply):
    """Where an item went, and why."""

    location: str
    reason: str
    loan_id: int | None
    moved_by: int | None
    moved_at: Timestamp


class ItemDetail(ItemCard):
    """An item, its open loan and its movements."""

    loan: LoanCard | None
    history: list[Move]


class NewItem(Body):
    """A folder (or medium) holding a record, and its shelf."""

    kind: Annotated[Literal["folder", "binder", "box", "media"], Lower]
    label: str = Field(min_length=1, max_length=200)
    location: Shelf


class CheckoutBody(Body):
    """Lend an item: to whom, how many pages, for how long, why."""

    borrower: str = Field(min_length=3, max_length=254, description="the borrower's e-mail")
    pages: Pages
    days: Days | None = None
    purpose: Purpose | None = None


class CheckinBody(Body):
    """Take an item back."""

    pages: Pages
    condition: Annotated[Condition, as_enum(Condition)]
    location: Annotated[str, Field(max_length=200)] | None = None


class RenewBody(Body):
    """Renew a loan (optional: the default loan length)."""

    days: Days | None = None


@route(
    bp,
    "/records/<int:record_id>/items",
    action=Action.ITEM_CREATE,
    methods=["POST"],
    summary="Register a folder (or medium) holding a record, and its shelf (custodian)",
    body=NewItem,
    responses={201: ItemCard},
)
def add_item(record_id: int, body: NewItem) -> ItemCard:
    item = loans.add_item(
        vault(),
        db(),
        caller(),
        record_id,
        kind=body.kind,
        label=body.label,
        location=body.location,
    )
    return ItemCard.of(item)


@route(
    bp,
    "/items/<int:item_id>",
    action=Action.ITEM_READ,
    summary="An item, its loan and where it has been (custodians, auditors, admins)",
    responses={200: ItemDetail},
)
def get_item(item_id: int) -> ItemDetail:
    item = loans.get_item(db(), item_id)
    moves = loans.history(vault(), db(), caller(), item_id)
    loan = loans.open_loan(db(), item_id)
    return ItemDetail(
        **dict(ItemCard.of(item)),
        loan=LoanCard.of(loan) if loan else None,
        history=[
            Move(
                location=m.location,
                reason=m.reason,
                loan_id=m.loan_id,
                moved_by=m.moved_by_id,
                moved_at=m.moved_at.isoformat(),
            )
            for m in moves
        ],
    )


@route(
    bp,
    "/items/<int:item_id>/checkout",
    action=Action.ITEM_CHECKOUT,
    methods=["POST"],
    summary="Check an item out to a borrower (custodian in scope; borrower needs a lend "
    "grant or custody)",
    body=CheckoutBody,
    responses={201: LoanCard},
)
def checkout(item_id: int, body: CheckoutBody) -> LoanCard:
    borrower = directory.get_by_email(db(), body.borrower)
    loan = loans.checkout(
        vault(),
        db(),
        caller(),
        item_id,
        borrower,
        pages=body.pages,
        days=body.days,
        purpose=body.purpose,
    )
    return LoanCard.of(loan)


@route(
    bp,
    "/items/<int:item_id>/checkin",
    action=Action.ITEM_CHECKIN,
    methods=["POST"],
    summary="Take an item back: condition and page count (mismatch flagged)",
    body=CheckinBody,
    responses={200: LoanCard},
)
def checkin(item_id: int, body: CheckinBody) -> LoanCard:
    loan = loans.checkin(
        vault(),
        db(),
        caller(),
        item_id,
        pages=body.pages,
        condition=body.condition.value,
        location=body.location,
    )
    return LoanCard.of(loan)


@route(
    bp,
    "/items/<int:item_id>/renew",
    action=Action.ITEM_RENEW,
    methods=["POST"],
    summary="Renew a loan once (refused while someone else waits for the item)",
    body=RenewBody,
    responses={200: LoanCard},
)
def renew(item_id: int, body: RenewBody) -> LoanCard:
    return LoanCard.of(loans.renew(vault(), db(), caller(), item_id, days=body.days))
