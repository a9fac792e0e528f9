"""PII redaction for Chinese and English text.

Replaces e-mail addresses, phone numbers (Chinese mobiles and landlines, international and North
American numbers), Chinese resident ID numbers (checksum-validated) and bank card numbers
(Luhn-validated) with typed placeholders. Amounts, dates, years and article numbers are left alone.

>>> redact_pii("联系 13812345678 或 a.b@example.com，金额 1,250.00 元")
'联系 [PHONE] 或 [EMAIL]，金额 1,250.00 元'
"""

from __future__ import annotations

import re

__all__ = ["redact_pii", "valid_cn_id", "luhn_ok"]

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?![\w])")
# 18-digit resident ID: 6 region + 8 birth date + 3 sequence + check digit (0-9 or X)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])(?![0-9A-Za-z])")
# bank cards: 13-19 digits, optionally grouped by spaces or dashes in 4s
_CARD = re.compile(r"(?<![\d.,])((?:\d{4}[ -]){2,4}\d{1,7}|\d{13,19})(?![\d.,]*\d)")
_CN_MOBILE = re.compile(r"(?<![\d.])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![\d])")
_CN_LANDLINE = re.compile(r"(?<![\d.])(?:\(0\d{2,3}\)|0\d{2,3}-)\d{7,8}(?![\d])")
_INTL = re.compile(r"(?<![\w+])\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?!\d)")
_NANP = re.compile(r"(?<![\d\w])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?!\d)")

# A superset of what the number patterns above can match (each holds one of these): texts without
# any (most prose) skip them. _CN_ID, _CN_LANDLINE and the 13-19 digit _CARD hold 6+ digits in a
# row, grouped _CARD and _CN_MOBILE hold 4 digits, an optional space or dash, 4 digits; _NANP holds
# 3 digits, '-' or '.', 4 digits; _INTL starts with '+' and a digit. (Written with the 3-digit
# prefix factored out: the same texts match as \d{6}|\d{4}[ -]?\d{4}|\d{3}[-.]\d{4}|\+\d, faster.)
_MAYBE_NUMBER = re.compile(r"\+\d|\d{3}(?:\d{3}|\d[ -]?\d{4}|[-.]\d{4})")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_cn_id(s: str) -> bool:
    """ISO 7064 MOD 11-2 check of an 18-character Chinese resident ID number.

    >>> valid_cn_id("11010519491231002X")
    True
    >>> valid_cn_id("110105194912310021")
    False
    """
    if len(s) != 18 or not s[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


def luhn_ok(digits: str) -> bool:
    """Luhn checksum.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _id_sub(m: re.Match) -> str:
    return "[ID]" if valid_cn_id(m.group(1)) else m.group(0)


def _card_sub(m: re.Match) -> str:
    digits = re.sub(r"[ -]", "", m.group(1))
    return "[BANK_CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)


def redact_pii(text: str) -> str:
    """Replace PII in ``text`` with ``[EMAIL]``, ``[ID]``, ``[BANK_CARD]`` and ``[PHONE]``."""
    if not text:
        return text
    if "@" in text:  # every e-mail address holds one
        text = _EMAIL.sub("[EMAIL]", text)
    if _MAYBE_NUMBER.search(text) is None:  # none of the number patterns can match: nothing to replace
        return text
    text = _CN_ID.sub(_id_sub, text)
    text = _CARD.sub(_card_sub, text)
    for pat in (_CN_MOBILE, _CN_LANDLINE, _INTL, _NANP):
        text = pat.sub("[PHONE]", text)
    return text
