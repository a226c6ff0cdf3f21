"""The importer's words: each header or value means one thing; each stored value has words."""

from vault.archive import vocabulary
from vault.archive.importer import COLUMNS
from vault.models import ClientKind, Relationship, Section, Tier


def test_headers_are_normalised_before_they_are_compared():
    assert vocabulary.normalise(" 客户编号\uff1a ") == "客户编号"
    assert vocabulary.normalise("\uff34\uff21\uff38\u3000\uff29\uff24") == "taxid"
    for header in (
        "Client code",
        "CLIENT_CODE",
        "client-code",
        "Client code:",
        "客户编号",
        "客户代码\uff1a",
    ):
        assert vocabulary.column(header) == "client_code", header
    assert vocabulary.column("纳税人识别号") == vocabulary.column("Tax ID") == "tax_id"
    assert vocabulary.column("档案类别") == "section" and vocabulary.column("客户级别") == "tier"
    assert vocabulary.column("valid untill") is None


def test_every_stored_value_has_words_in_both_languages():
    assert set(vocabulary.VALUES["tier"]) == {t.value for t in Tier}
    assert set(vocabulary.VALUES["kind"]) == {k.value for k in ClientKind}
    assert set(vocabulary.VALUES["relationship"]) == {r.value for r in Relationship}
    assert set(vocabulary.VALUES["section"]) == {s.name.lower() for s in Section}
    assert {s.name.lower(): int(s) for s in Section} == vocabulary.SECTION_NUMBERS
    for words in [
        *vocabulary.COLUMNS.values(),
        *(w for f in vocabulary.VALUES.values() for w in f.values()),
    ]:
        assert words.en and words.zh
    assert tuple(vocabulary.COLUMNS) == COLUMNS


def test_values_in_either_language():
    assert vocabulary.value("tier", "重点") == vocabulary.value("tier", "核心") == "core"
    assert vocabulary.value("tier", " General ") == "general"
    assert vocabulary.value("section", "资信") == vocabulary.value("section", "2") == "credit"
    assert vocabulary.value("section", "信誉、财务、付款") == "credit"  # the UI's own label
    assert (
        vocabulary.value("section", "退赔、折价")
        == vocabulary.value("section", "退货")
        == "returns"
    )
    assert vocabulary.value("kind", "企业") == "company"
    assert vocabulary.value("tier", "黄金") is None
