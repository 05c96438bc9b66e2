"""Fake values for identifier columns: same kind as the source's, never equal to a source value.

Identifier columns (role `identifier`) never reach a generator. When a release or `anon
generate` needs such a column, it is filled here with Faker values of the column's kind (names,
emails, phone numbers, national id numbers with a valid Luhn check digit, IBANs, ...).

"Never equals a source value" is enforced, not hoped for: every candidate is normalised like
the synthetic-table gate normalises cells (trimmed, lowercase), hashed with SHA-256 under a salt,
and redrawn while its digest is among the digests of the source's identifier values
(`IdentifierBlocklist`). The blocklist holds digests only, so the raw values need not travel
with a model; they are salted SHA-256 of low-entropy strings, though, so a blocklist is
restricted-zone material like the model it sits beside (a dictionary attack recovers common
names). Fake values are never logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from faker import Faker

from anon_platform.catalog.specs import FakeKind
from anon_platform.errors import GeneratorError

DEFAULT_LOCALE = "en_GB"
MAX_REDRAWS = 1000

# column-name patterns (lowercase, separators removed) -> kind; the first match wins
_NAME_PATTERNS: list[tuple[str, FakeKind]] = [
    (r"e?mail", "email"),
    (r"phone|mobile|telephone|msisdn", "phone"),
    (
        r"nationalid|ssn|socialsecurity|nino|nationalinsurance|passport|taxid|personalid",
        "national_id",
    ),
    (r"iban|accountnumber|accountno|cardnumber|bankaccount", "iban"),
    (r"firstname|givenname|forename", "first_name"),
    (r"lastname|surname|familyname", "last_name"),
    (r"^(full)?name$|customername|personname|patientname|clientname", "name"),
    (r"streetaddress|^address$|homeaddress", "address"),
    (r"username|login|handle", "username"),
]


def infer_kind(column: str) -> FakeKind | None:
    """The kind of identifier a column name says it holds ('email' for 'E-Mail'), else None."""
    key = re.sub(r"[^a-z]", "", column.lower())
    for pattern, kind in _NAME_PATTERNS:
        if re.search(pattern, key):
            return kind
    return None


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit that makes `digits` + it a valid Luhn number."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: every second digit counting from the check digit
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def is_valid_national_id(value: str) -> bool:
    """Whether `value` is 'DDD-DDD-DDD-C' (the demo's scheme) with a correct Luhn digit C."""
    if not re.fullmatch(r"\d{3}-\d{3}-\d{3}-\d", value):
        return False
    digits = value.replace("-", "")
    return luhn_check_digit(digits[:-1]) == int(digits[-1])


def _national_id(faker: Faker) -> str:
    body = "".join(str(faker.random_int(0, 9)) for _ in range(9))
    return f"{body[:3]}-{body[3:6]}-{body[6:]}-{luhn_check_digit(body)}"


_MAKERS: dict[FakeKind, Callable[[Faker], str]] = {
    "name": lambda f: f.name(),
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "email": lambda f: f.email(),
    "phone": lambda f: f.phone_number(),
    "national_id": _national_id,
    "iban": lambda f: f.iban(),
    "address": lambda f: f.address().replace("\n", ", "),
    "username": lambda f: f.user_name(),
    "token": lambda f: f.hexify("^^^^^^^^^^^^^^^^"),
}
# kinds that identify one person each: values are kept unique within a column
UNIQUE_KINDS: frozenset[str] = frozenset({"email", "phone", "national_id", "iban", "token"})


def normalise(value: Any) -> str:
    """A value as the synthetic-table gate compares it: text, trimmed, lowercase."""
    return str(value).strip().lower()


def digest(value: Any, salt: str) -> str:
    """Salted SHA-256 of the normalised value."""
    return hashlib.sha256((salt + normalise(value)).encode()).hexdigest()


@dataclass(frozen=True)
class IdentifierBlocklist:
    """Salted digests of every source identifier value (all identifier columns together)."""

    salt: str
    digests: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_values(
        cls, values: dict[str, pl.Series], salt: str | None = None
    ) -> IdentifierBlocklist:
        """Digest every non-null value of the given identifier columns (a fresh random salt
        unless one is given)."""
        salt = salt if salt is not None else secrets.token_hex(16)
        digests = {
            digest(v, salt)
            for series in values.values()
            for v in series.drop_nulls().cast(pl.String).unique().to_list()
        }
        return cls(salt, frozenset(digests))

    def __contains__(self, value: object) -> bool:
        return digest(value, self.salt) in self.digests

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (salt and sorted digests) for storing beside a model."""
        return {"salt": self.salt, "digests": sorted(self.digests)}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> IdentifierBlocklist:
        """The inverse of `to_json`."""
        return cls(payload["salt"], frozenset(payload["digests"]))


def fake_values(
    kind: FakeKind,
    count: int,
    blocklist: IdentifierBlocklist,
    seed: int,
    locale: str = DEFAULT_LOCALE,
) -> list[str]:
    """`count` fake values of `kind`, none in the blocklist (unique for UNIQUE_KINDS); the same
    seed gives the same values. GeneratorError if MAX_REDRAWS draws in a row were all refused."""
    if kind not in _MAKERS:
        raise GeneratorError(f"unknown fake identifier kind '{kind}' (known: {sorted(_MAKERS)})")
    faker = Faker(locale)
    faker.seed_instance(seed)
    make = _MAKERS[kind]
    unique = kind in UNIQUE_KINDS
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        for _ in range(MAX_REDRAWS):
            value = make(faker)
            key = normalise(value)
            if value not in blocklist and not (unique and key in seen):
                break
        else:
            raise GeneratorError(
                f"fake '{kind}' values: {MAX_REDRAWS} draws in a row equalled a source value or "
                "an earlier fake value; this kind cannot fill the column"
            )
        seen.add(key)
        out.append(value)
    return out


def fill_identifiers(
    frame: pl.DataFrame,
    kinds: dict[str, FakeKind],
    blocklist: IdentifierBlocklist,
    seed: int,
    locale: str = DEFAULT_LOCALE,
) -> pl.DataFrame:
    """`frame` with one fake column per entry of `kinds` (column -> kind), replacing any column
    of that name; each column draws from its own stream (seed and column name)."""
    columns = [
        pl.Series(
            name,
            fake_values(kind, frame.height, blocklist, seed + zlib.crc32(name.encode()), locale),
            dtype=pl.String,
        )
        for name, kind in kinds.items()
    ]
    return frame.with_columns(columns) if columns else frame


def fill_release_identifiers(
    tables: dict[str, pl.DataFrame],
    fakes: dict[str, dict[str, FakeKind]],
    raw_identifiers: dict[str, pl.Series],
    seed: int,
    locale: str = DEFAULT_LOCALE,
) -> dict[str, pl.DataFrame]:
    """The synthetic tables with the identifier columns a release asks for (`fakes`: table ->
    column -> kind) filled with fake values that equal no value of any source identifier column
    (`raw_identifiers`, e.g. stored.raw_identifier_values); the salt is random and never stored."""
    blocklist = IdentifierBlocklist.from_values(raw_identifiers)
    return {
        name: fill_identifiers(frame, fakes.get(name, {}), blocklist, seed, locale)
        for name, frame in tables.items()
    }
