"""The words a spreadsheet may use for the importer's columns and coded values.

Small firms keep their client files in sheets headed in Chinese or English, in
whatever words the office chose (客户编号, 客户代码, "Client code", "CUSTOMER_ID"...),
with values such as 重点 / 核心 for a core client or 资信 for the credit section.
Each field and each coded value has its accepted words here, in both languages.

Headers and values are compared after :func:`normalise`: surrounding space removed,
full-width forms read as half-width (NFKC), case folded, and spaces, underscores,
hyphens, dots, colons, asterisks (a "required" mark) and list punctuation removed.
The first word of each language is the one shown in an error message."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Compared after NFKC, so a full-width colon, comma or bracket is already its ASCII self.
_NOISE = re.compile(r"[\s_\-.:*、,/&()]+")


def normalise(value: object) -> str:
    """The form in which a header or value is compared: ``" Client_Code: "`` -> ``"clientcode"``."""
    text = unicodedata.normalize("NFKC", str(value if value is not None else "")).casefold()
    return _NOISE.sub("", text)


def normalise_text(value: object) -> str:
    """A cell's text with full-width forms read as half-width and surrounding space removed."""
    return unicodedata.normalize("NFKC", str(value)).strip()


@dataclass(frozen=True)
class Words:
    """The words accepted for one column or value, in English and in Chinese."""

    en: tuple[str, ...]
    zh: tuple[str, ...]

    def shown(self) -> str:
        """How an error message names it: ``Client code / 客户编号``."""
        return f"{self.en[0]} / {self.zh[0]}"

    def every(self) -> str:
        """All the accepted words, English then Chinese."""
        return ", ".join((*self.en, *self.zh))


# The importer's columns (canonical name -> accepted headers).
COLUMNS: dict[str, Words] = {
    "client_code": Words(
        (
            "Client code",
            "Client",
            "Code",
            "Client no",
            "Client number",
            "Client ID",
            "Customer code",
            "Customer no",
            "Customer number",
            "Customer ID",
        ),
        ("客户编号", "客户代码", "客户编码", "客户号", "客户代号"),
    ),
    "client_name": Words(
        ("Client name", "Name", "Customer name", "Company name", "Company"),
        ("客户名称", "客户名", "客户全称", "客户", "名称", "单位名称", "公司名称", "企业名称"),
    ),
    "tier": Words(
        (
            "Tier",
            "Client tier",
            "Customer tier",
            "Level",
            "Client level",
            "Grade",
            "Category",
            "Client category",
        ),
        (
            "分类",
            "级别",
            "类别",
            "等级",
            "客户级别",
            "客户类别",
            "客户分类",
            "客户等级",
        ),
    ),
    "kind": Words(
        ("Kind", "Client kind", "Type", "Client type", "Customer type"),
        ("类型", "客户类型", "客户性质", "性质", "单位性质", "企业性质"),
    ),
    "relationship": Words(
        ("Relationship", "Status", "Client status", "Relationship status"),
        ("关系", "客户关系", "状态", "客户状态", "合作状态", "交易状态"),
    ),
    "tax_id": Words(
        (
            "Tax ID",
            "Tax number",
            "Tax no",
            "Taxpayer ID",
            "TIN",
            "VAT number",
            "Unified social credit code",
            "USCC",
        ),
        (
            "税号",
            "纳税人识别号",
            "纳税识别号",
            "统一社会信用代码",
            "社会信用代码",
            "信用代码",
            "税务登记号",
        ),
    ),
    "bank_account": Words(
        ("Bank account", "Bank account number", "Account number", "Account", "IBAN"),
        ("银行账户", "银行账号", "银行帐号", "银行帐户", "开户账号", "账号", "帐号"),
    ),
    "section": Words(
        ("Section", "File section", "Part", "Archive category", "File category"),
        ("部分", "档案类别", "档案分类", "档案部分", "资料类别", "类目", "栏目"),
    ),
    "year": Words(
        ("Year", "File year", "Archive year", "Fiscal year"),
        ("年度", "年份", "年", "归档年度", "档案年度"),
    ),
    "title": Words(
        ("Title", "Document title", "Subject", "Document name"),
        ("题名", "标题", "题目", "文件标题", "文件名称", "文件名", "档案名称"),
    ),
    "doc_type": Words(
        ("Doc type", "Document type", "Type of document"),
        ("文件类型", "文档类型", "文种", "资料类型", "单据类型"),
    ),
    "doc_date": Words(
        ("Doc date", "Document date", "Date", "Dated"),
        ("文件日期", "日期", "成文日期", "形成日期", "出具日期", "签署日期"),
    ),
    "valid_until": Words(
        ("Valid until", "Valid to", "Expires", "Expiry date", "Expiry"),
        ("有效期至", "有效期", "有效期限", "有效日期", "到期日", "到期日期", "截止日期"),
    ),
    "content": Words(
        ("Content", "Contents", "Text", "Body"),
        ("内容", "正文", "文件内容", "档案内容"),
    ),
}


# Coded values (field -> stored value -> accepted words); the stored value itself, and for
# a section its number (1-4), are always accepted too.
VALUES: dict[str, dict[str, Words]] = {
    "tier": {
        "core": Words(
            ("core", "key", "key client", "VIP"), ("核心", "重点", "核心客户", "重点客户")
        ),
        "special": Words(("special", "special client"), ("特殊", "特殊客户", "特别")),
        "general": Words(
            ("general", "ordinary", "normal", "regular", "standard"),
            ("一般", "普通", "一般客户", "普通客户"),
        ),
    },
    "section": {
        "basic": Words(
            ("basic", "basic information", "basics", "general information"),
            ("基本", "基础", "基础资料", "基本资料", "基本信息", "基础信息", "基本情况"),
        ),
        "credit": Words(
            (
                "credit",
                "credit report",
                "credit, finance and payment",
                "finance",
                "payment",
            ),
            (
                "信用",
                "资信",
                "信誉",
                "信用资料",
                "资信资料",
                "资信调查",
                "信誉、财务、付款",
                "财务",
                "付款",
            ),
        ),
        "transactions": Words(
            ("transactions", "transaction", "trade", "dealings"),
            ("交易", "往来", "交易状况", "交易资料", "往来资料", "业务往来"),
        ),
        "returns": Words(
            ("returns", "return", "returns and discounts", "discounts", "refunds"),
            ("退货", "折让", "退货折让", "退赔", "折价", "退赔、折价", "退换货"),
        ),
    },
    "kind": {
        "government": Words(
            ("government", "government body", "public body"),
            ("政府", "政府机构", "政府机关", "机关"),
        ),
        "special_company": Words(("special company",), ("特殊公司", "特殊企业")),
        "company": Words(
            ("company", "ordinary company", "business", "enterprise", "corporation"),
            ("企业", "公司", "普通公司", "普通企业", "一般企业"),
        ),
        "individual": Words(("individual", "person"), ("个人", "自然人", "个体")),
        "partner": Words(("partner",), ("交易伙伴", "合作伙伴", "伙伴")),
    },
    "relationship": {
        "prospective": Words(
            ("prospective", "prospect", "potential"), ("未来交易", "潜在", "潜在客户", "意向客户")
        ),
        "active": Words(
            ("active", "current"), ("正在交易", "合作中", "在合作", "现有", "现有客户", "活跃")
        ),
        "former": Words(
            ("former", "past", "inactive", "ended"), ("曾经交易", "以往", "过往", "已终止", "终止")
        ),
    },
}


SECTION_NUMBERS = {"basic": 1, "credit": 2, "transactions": 3, "returns": 4}


def _table(entries: dict[str, Words]) -> dict[str, str]:
    table: dict[str, str] = {}
    for name, words in entries.items():
        for word in (name, *words.en, *words.zh):
            key = normalise(word)
            if table.setdefault(key, name) != name:
                raise AssertionError(f"{word!r} would mean both {table[key]} and {name}")
    return table


HEADERS: dict[str, str] = _table(COLUMNS)
_VALUE_TABLES: dict[str, dict[str, str]] = {f: _table(vals) for f, vals in VALUES.items()}
_VALUE_TABLES["section"].update({str(n): name for name, n in SECTION_NUMBERS.items()})


def column(header: object) -> str | None:
    """The canonical column a header names, or None if it names none."""
    return HEADERS.get(normalise(header))


def value(field: str, given: object) -> str | None:
    """The stored value a cell means for a coded ``field``, or None if it means none."""
    return _VALUE_TABLES[field].get(normalise(given))


def accepted_columns(names: tuple[str, ...] | None = None) -> str:
    """The accepted headers of ``names`` (all columns by default), for an error message."""
    return "; ".join(f"{n} = {COLUMNS[n].every()}" for n in names or tuple(COLUMNS))


def accepted_values(field: str) -> str:
    """The accepted values of a coded field, for an error message."""
    extra = " (or 1-4)" if field == "section" else ""
    return "; ".join(f"{n} = {w.every()}" for n, w in VALUES[field].items()) + extra
