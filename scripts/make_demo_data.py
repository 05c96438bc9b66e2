"""Generate the deterministic, entirely fictional "bank" demo data set.

The output is two CSV files that look like an extract from a UK retail bank:

``customers.csv``
    One row per customer: direct identifiers (``full_name``, ``email``, ``phone``,
    ``national_id``), quasi-identifiers (``date_of_birth``, ``postcode``, ``gender``,
    ``occupation``) and sensitive attributes (``income``, ``credit_score``, ``churned``).

``transactions.csv``
    Card/account transactions over the 12 months before the reference date, linked to
    ``customers.customer_id``, with ``merchant_category``, ``amount``, ``channel`` and a rare
    ``is_fraud`` label.

Every person, identifier and transaction is FICTIONAL. Names come from Faker (en_GB); e-mail
addresses are built from those names; landline numbers come from Ofcom's ranges reserved for
drama/fiction (e.g. ``0113 496 0xxx``, ``020 7946 0xxx``, ``01632 960xxx``), mobile numbers
are random ``07xxx xxxxxx`` strings; postcodes use real district codes but random units.
Any resemblance to a real person is coincidental.

Built-in structure (so that anonymization and synthesis have something to preserve):

* occupation depends on age (students young, retired old, managers more senior);
* income is log-normal, driven by occupation, a mid-career age curve (peak near 48) and a
  small postcode-district affluence effect; about 2 % of incomes are missing;
* credit_score (300-850) rises with income and age;
* the number of transactions per customer is over-dispersed (gamma-Poisson) and grows with
  income; amounts are log-normal per merchant category and scale with income;
* timestamps follow daily (evening peak, quiet nights) and weekly (Fri/Sat) seasonality,
  with a December bump;
* channel: ``atm`` only for cash withdrawals, ``contactless`` only for amounts <= 100.00;
* is_fraud (~0.7 %) is far more likely online, at night, for high amounts and for
  electronics/travel;
* churned (~17 %) is more likely for young customers, low credit scores and low activity;
  churned customers stop transacting part way through the year.

``national_id`` checksum: nine payload digits followed by one Luhn (mod 10) check digit,
formatted ``DDD-DDD-DDD-C``. To compute ``C``, walk the payload from its rightmost digit to
the left, doubling every other digit starting with the rightmost one (subtract 9 from any
doubled value above 9), sum all digits, and take ``C = (10 - sum % 10) % 10``. Equivalently,
the Luhn sum over all ten digits is divisible by 10.

Everything is driven by ``numpy.random.default_rng(seed)`` and ``Faker.seed_instance(seed)``
and a fixed reference date (2026-06-30), so two runs with the same arguments produce
byte-identical files.

Usage::

    python scripts/make_demo_data.py [--out demo_data/bank] [--customers 5000]
        [--transactions 50000] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker

REFERENCE_DATE = dt.date(2026, 6, 30)
WINDOW_DAYS = 365  # transactions fall in [REFERENCE_DATE - 365 days, REFERENCE_DATE)
WINDOW_START = REFERENCE_DATE - dt.timedelta(days=WINDOW_DAYS)

OCCUPATIONS: tuple[str, ...] = (
    "student",
    "retail",
    "nurse",
    "teacher",
    "engineer",
    "manager",
    "doctor",
    "lawyer",
    "tradesperson",
    "retired",
    "unemployed",
    "self_employed",
)
# Median annual income (GBP) at the career peak, and log-scale noise per occupation.
OCC_MEDIAN_INCOME: dict[str, float] = {
    "student": 8_500,
    "retail": 24_000,
    "nurse": 38_000,
    "teacher": 42_000,
    "engineer": 62_000,
    "manager": 72_000,
    "doctor": 105_000,
    "lawyer": 98_000,
    "tradesperson": 38_000,
    "retired": 21_000,
    "unemployed": 7_500,
    "self_employed": 40_000,
}
OCC_INCOME_SIGMA: dict[str, float] = {"self_employed": 0.55, "unemployed": 0.25, "student": 0.35}
NON_EARNERS = frozenset({"student", "retired", "unemployed"})
INCOME_PEAK_AGE = 48.0

# Postcode districts: (district, log income multiplier, relative population weight).
DISTRICTS: tuple[tuple[str, float, float], ...] = (
    ("LS6", -0.10, 1.2), ("LS17", 0.20, 0.8), ("M14", -0.15, 1.2), ("M20", 0.18, 1.0),
    ("B15", 0.05, 1.0), ("B23", -0.20, 1.1), ("BS8", 0.22, 0.9), ("BS5", -0.15, 1.0),
    ("CF10", 0.00, 0.9), ("CF24", -0.12, 1.0), ("EH3", 0.25, 0.8), ("EH11", -0.10, 1.0),
    ("G12", 0.15, 0.9), ("G31", -0.25, 1.1), ("L8", -0.25, 1.0), ("L18", 0.12, 0.8),
    ("NE1", 0.02, 0.8), ("NE6", -0.18, 1.1), ("NG7", -0.08, 1.1), ("NG2", 0.00, 0.9),
    ("S10", 0.10, 1.0), ("S2", -0.15, 1.0), ("SW11", 0.30, 1.3), ("SW19", 0.25, 1.2),
    ("E14", 0.20, 1.4), ("E3", -0.05, 1.3), ("N1", 0.22, 1.2), ("N17", -0.18, 1.3),
    ("SE15", -0.05, 1.3), ("SE22", 0.15, 1.0), ("W4", 0.28, 1.0), ("W12", 0.00, 1.1),
    ("OX2", 0.25, 0.7), ("OX4", -0.05, 0.8), ("CB1", 0.10, 0.8), ("CB4", 0.05, 0.7),
    ("BN1", 0.05, 0.9), ("BN2", -0.10, 0.9), ("YO10", -0.05, 0.8), ("YO31", -0.08, 0.8),
)  # fmt: skip
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in UK inward codes

# Ofcom drama/fiction number ranges (1,000 numbers each), keyed by postcode area.
LONDON_AREAS = frozenset({"E", "N", "SE", "SW", "W"})
LANDLINE_PREFIX: dict[str, str] = {
    "LS": "0113 496 0", "S": "0114 496 0", "NG": "0115 496 0", "BS": "0117 496 0",
    "B": "0121 496 0", "EH": "0131 496 0", "G": "0141 496 0", "L": "0151 496 0",
    "M": "0161 496 0", "NE": "0191 498 0", "CF": "029 2018 0", "LONDON": "020 7946 0",
    "OTHER": "01632 960",
}  # fmt: skip

EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com",
    "icloud.com", "sky.com", "live.co.uk",
)  # fmt: skip
EMAIL_DOMAIN_P = np.array([0.38, 0.14, 0.14, 0.1, 0.08, 0.08, 0.04, 0.04])

CATEGORIES: tuple[str, ...] = (
    "groceries",
    "restaurants",
    "fuel",
    "travel",
    "electronics",
    "clothing",
    "utilities",
    "entertainment",
    "health",
    "cash_withdrawal",
)
CAT_P = np.array([0.27, 0.13, 0.09, 0.03, 0.03, 0.08, 0.08, 0.11, 0.05, 0.13])
# (median amount in GBP for a median-income customer, log-scale sigma, income elasticity)
CAT_AMOUNT: dict[str, tuple[float, float, float]] = {
    "groceries": (40.0, 0.65, 0.25),
    "restaurants": (32.0, 0.60, 0.35),
    "fuel": (55.0, 0.35, 0.10),
    "travel": (400.0, 0.85, 0.45),
    "electronics": (250.0, 0.90, 0.35),
    "clothing": (60.0, 0.70, 0.35),
    "utilities": (90.0, 0.40, 0.15),
    "entertainment": (28.0, 0.75, 0.30),
    "health": (35.0, 0.80, 0.20),
    "cash_withdrawal": (60.0, 0.65, 0.10),
}
CAT_ONLINE_P: dict[str, float] = {
    "groceries": 0.10, "restaurants": 0.12, "fuel": 0.0, "travel": 0.75, "electronics": 0.55,
    "clothing": 0.40, "utilities": 0.90, "entertainment": 0.45, "health": 0.15,
    "cash_withdrawal": 0.0,
}  # fmt: skip
CONTACTLESS_LIMIT = 100.0
# Relative transaction intensity per hour of day (index 0 = 00:00-00:59).
HOUR_PROFILE = np.array(
    [0.30, 0.15, 0.08, 0.06, 0.06, 0.12, 0.40, 1.00, 1.60, 1.90, 2.10, 2.40,
     3.00, 2.90, 2.50, 2.40, 2.70, 3.30, 3.80, 3.70, 3.10, 2.30, 1.40, 0.70]
)  # fmt: skip
NIGHT_HOURS = (0, 6)  # [start, end)
WEEKDAY_WEIGHT = np.array([0.85, 0.88, 0.92, 0.98, 1.20, 1.32, 1.02])  # Mon..Sun
MONTH_WEIGHT = {1: 0.88, 2: 0.92, 8: 1.05, 11: 1.08, 12: 1.28}

TARGET_CHURN_RATE = 0.17
TARGET_FRAUD_RATE = 0.007


# --------------------------------------------------------------------------- helpers


def luhn_check_digit(payload: str) -> int:
    """Return the Luhn check digit for a string of decimal digits."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(digits: str) -> bool:
    """True when the last digit of ``digits`` is the Luhn check digit of the rest."""
    return luhn_check_digit(digits[:-1]) == int(digits[-1])


def sample_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Draw one column index per row of a (rows x options) non-negative weight matrix."""
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(weights))[:, None]
    return np.minimum((u > cum).sum(axis=1), weights.shape[1] - 1)


def calibrate_intercept(score: np.ndarray, target: float) -> float:
    """Find b so that mean(sigmoid(b + score)) == target (bisection, deterministic)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + score)))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def spearman(x: pd.Series | np.ndarray, y: pd.Series | np.ndarray) -> float:
    """Spearman rank correlation without scipy (pairwise-complete)."""
    frame = pd.DataFrame({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)})
    frame = frame.dropna()
    return float(frame["x"].rank().corr(frame["y"].rank()))


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters only (for e-mail local parts)."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", norm.lower())


def postcode_area(district: str) -> str:
    """Leading letters of a district, e.g. 'SW11' -> 'SW'."""
    match = re.match(r"[A-Z]+", district)
    assert match is not None
    return match.group(0)


# --------------------------------------------------------------------------- customers


def sample_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Adult ages 18-90 shaped roughly like the UK adult population."""
    ages = np.arange(18, 91)
    weights = np.where(ages < 25, 0.85, 1.0)
    weights = weights * np.where(ages > 60, np.exp(-(ages - 60) / 14.0), 1.0)
    return rng.choice(ages, size=n, p=weights / weights.sum())


def sample_dates_of_birth(rng: np.random.Generator, ages: np.ndarray) -> list[str]:
    """Birth dates giving exactly ``ages`` completed years on REFERENCE_DATE."""
    offsets = rng.integers(0, 365, size=len(ages))
    out = []
    for age, off in zip(ages, offsets, strict=True):
        last_birthday = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - int(age))
        out.append((last_birthday - dt.timedelta(days=int(off))).isoformat())
    return out


def occupation_weights(ages: np.ndarray) -> np.ndarray:
    """(n x 12) unnormalised occupation probabilities as a function of age."""
    a = ages.astype(float)
    labour = 1 / (1 + np.exp((a - 64.5) / 1.8))  # share still in work
    working = np.maximum(labour, 0.02)
    student = np.select([a <= 22, a <= 25, a <= 30, a <= 45], [0.60, 0.18, 0.04, 0.01], 0.002)
    young = np.where(a < 25, 1.8, 1.0)
    cols = {
        "student": student,
        "retail": 0.14 * young * working,
        "nurse": 0.07 * (a >= 21) * working,
        "teacher": 0.07 * (a >= 22) * working,
        "engineer": 0.08 * (a >= 22) * working,
        "manager": (a >= 25) * (0.02 + 0.0025 * np.clip(a - 25, 0, 25)) * working,
        "doctor": 0.025 * (a >= 25) * working,
        "lawyer": 0.02 * (a >= 24) * working,
        "tradesperson": 0.10 * working,
        "retired": 3.0 * (1 - labour) * (a >= 50),
        "unemployed": np.where(a < 25, 0.08, 0.045) * working + 0.002,
        "self_employed": 0.07 * working + 0.01 * (a >= 60),
    }
    return np.column_stack([cols[o] for o in OCCUPATIONS])


def latent_income(
    rng: np.random.Generator, ages: np.ndarray, occupations: np.ndarray, district_effect: np.ndarray
) -> np.ndarray:
    """Log-normal annual income from occupation, mid-career age curve and district."""
    median = np.array([OCC_MEDIAN_INCOME[o] for o in occupations])
    sigma = np.array([OCC_INCOME_SIGMA.get(o, 0.30) for o in occupations])
    earner = np.array([o not in NON_EARNERS for o in occupations])
    curve = np.where(earner, np.maximum(-0.0009 * (ages - INCOME_PEAK_AGE) ** 2, -0.7), 0.0)
    curve = np.where(occupations == "retired", -0.006 * np.clip(ages - 66, 0, None), curve)
    log_income = np.log(median) + curve + district_effect + sigma * rng.standard_normal(len(ages))
    return np.round(np.exp(log_income), 2)


def sample_credit_scores(
    rng: np.random.Generator, income: np.ndarray, ages: np.ndarray
) -> np.ndarray:
    """Integer 300-850 score rising with (log) income and age."""
    log_inc = np.log(income)
    z_inc = (log_inc - log_inc.mean()) / log_inc.std()
    z_age = (np.minimum(ages, 75) - 45) / 15
    latent = 0.55 * z_inc + 0.40 * z_age + 0.70 * rng.standard_normal(len(ages))
    score = 690 + 75 * latent / latent.std()
    return np.clip(np.round(score), 300, 850).astype(np.int64)


def make_names(fake: Faker, genders: np.ndarray) -> list[str]:
    """Gender-consistent full names."""
    names = []
    for g in genders:
        if g == "F":
            first = fake.first_name_female()
        elif g == "M":
            first = fake.first_name_male()
        else:
            first = fake.first_name_nonbinary()
        names.append(f"{first} {fake.last_name()}")
    return names


def make_emails(rng: np.random.Generator, names: list[str], birth_years: np.ndarray) -> list[str]:
    """Unique e-mail addresses derived from the name plus a number and a common domain."""
    used: set[str] = set()
    domains = rng.choice(len(EMAIL_DOMAINS), size=len(names), p=EMAIL_DOMAIN_P)
    styles = rng.integers(0, 5, size=len(names))
    out = []
    for name, year, dom, style in zip(names, birth_years, domains, styles, strict=True):
        parts = name.split()
        first, last = ascii_slug(parts[0]), ascii_slug(parts[-1])
        base = (f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}",
                f"{last}.{first}")[style]  # fmt: skip
        number = str(year % 100).zfill(2) if rng.random() < 0.5 else str(rng.integers(1, 100))
        email = f"{base}{number}@{EMAIL_DOMAINS[dom]}"
        while email in used:
            email = f"{base}{rng.integers(100, 10_000)}@{EMAIL_DOMAINS[dom]}"
        used.add(email)
        out.append(email)
    return out


def make_phones(rng: np.random.Generator, districts: np.ndarray, ages: np.ndarray) -> list[str]:
    """Unique phone numbers: fictional landlines for the customer's city, else mobiles."""
    pools: dict[str, list[int]] = {key: list(rng.permutation(1000)) for key in LANDLINE_PREFIX}
    landline = rng.random(len(ages)) < np.where(ages >= 60, 0.55, 0.25)
    used: set[str] = set()
    out = []
    for district, wants_landline in zip(districts, landline, strict=True):
        area = postcode_area(district)
        key = "LONDON" if area in LONDON_AREAS else area if area in LANDLINE_PREFIX else "OTHER"
        phone = ""
        if wants_landline and pools[key]:
            phone = f"{LANDLINE_PREFIX[key]}{pools[key].pop():03d}"
        while not phone or phone in used:
            phone = f"07{rng.integers(400, 1000)} {rng.integers(0, 1_000_000):06d}"
        used.add(phone)
        out.append(phone)
    return out


def make_national_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique 'DDD-DDD-DDD-C' identifiers with a Luhn check digit C."""
    used: set[int] = set()
    out = []
    while len(out) < n:
        payload = int(rng.integers(100_000_000, 1_000_000_000))
        if payload in used:
            continue
        used.add(payload)
        s = str(payload)
        out.append(f"{s[:3]}-{s[3:6]}-{s[6:]}-{luhn_check_digit(s)}")
    return out


def make_postcodes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw (district, full postcode) per customer from a limited pool of units."""
    weights = np.array([w for _, _, w in DISTRICTS])
    district_idx = rng.choice(len(DISTRICTS), size=n, p=weights / weights.sum())
    pool_size = max(5, round(n / 200))
    letters = np.array(list(POSTCODE_UNIT_LETTERS))
    postcodes = np.empty(n, dtype=object)
    for d, (district, _, _) in enumerate(DISTRICTS):
        sectors = rng.choice(10, size=4, replace=False)
        pool: list[str] = []
        while len(pool) < pool_size:
            unit = f"{district} {rng.choice(sectors)}{''.join(rng.choice(letters, 2))}"
            if unit not in pool:
                pool.append(unit)
        popularity = 1 / np.arange(1, pool_size + 1) ** 0.6
        members = np.flatnonzero(district_idx == d)
        picks = rng.choice(pool_size, size=len(members), p=popularity / popularity.sum())
        postcodes[members] = np.array(pool, dtype=object)[picks]
    return district_idx, postcodes


def build_customers(
    rng: np.random.Generator, fake: Faker, n: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Customer table (without churn) plus the latent, never-missing income."""
    ids = rng.permutation(np.arange(100_001, 100_001 + n))
    genders = rng.choice(np.array(["F", "M", "X"]), size=n, p=[0.497, 0.493, 0.010])
    ages = sample_ages(rng, n)
    dobs = sample_dates_of_birth(rng, ages)
    district_idx, postcodes = make_postcodes(rng, n)
    districts = np.array([DISTRICTS[i][0] for i in district_idx])
    district_effect = np.array([DISTRICTS[i][1] for i in district_idx])
    occupations = np.array(OCCUPATIONS)[sample_rows(rng, occupation_weights(ages))]
    income = latent_income(rng, ages, occupations, district_effect)
    credit = sample_credit_scores(rng, income, ages)
    names = make_names(fake, genders)
    birth_years = np.array([int(d[:4]) for d in dobs])
    observed_income = np.where(rng.random(n) < 0.02, np.nan, income)
    customers = pd.DataFrame(
        {
            "customer_id": ids.astype(np.int64),
            "full_name": names,
            "email": make_emails(rng, names, birth_years),
            "phone": make_phones(rng, districts, ages),
            "national_id": make_national_ids(rng, n),
            "date_of_birth": dobs,
            "postcode": postcodes,
            "gender": genders,
            "occupation": occupations,
            "income": observed_income,
            "credit_score": credit,
        }
    )
    return customers, income


def assign_churn(
    rng: np.random.Generator, ages: np.ndarray, credit: np.ndarray, n_txn: np.ndarray
) -> np.ndarray:
    """0/1 churn label: young, low credit score and low activity raise the odds."""
    score = (
        0.8 * (ages < 30)
        + 0.35 * (ages > 75)
        - 0.007 * (credit - 690)
        - 0.9 * np.log1p(n_txn)
        + 0.8 * (n_txn == 0)
    )
    p = 1 / (1 + np.exp(-(calibrate_intercept(score, TARGET_CHURN_RATE) + score)))
    return (rng.random(len(ages)) < p).astype(np.int64)


# --------------------------------------------------------------------------- transactions


def transaction_counts(
    rng: np.random.Generator, income: np.ndarray, ages: np.ndarray, total: int
) -> np.ndarray:
    """Over-dispersed counts (gamma-mixed multinomial) that sum exactly to ``total``."""
    activity = (income / np.median(income)) ** 0.45 * np.where(ages > 75, 0.7, 1.0)
    lam = rng.gamma(shape=1.2, scale=1 / 1.2, size=len(income)) * activity
    return rng.multinomial(total, lam / lam.sum()).astype(np.int64)


def day_weights() -> np.ndarray:
    """Relative intensity of each day in the 365-day window."""
    days = [WINDOW_START + dt.timedelta(days=i) for i in range(WINDOW_DAYS)]
    w = np.array([WEEKDAY_WEIGHT[d.weekday()] * MONTH_WEIGHT.get(d.month, 1.0) for d in days])
    payday = np.array([1.12 if d.day >= 25 or d.day <= 2 else 1.0 for d in days])
    return w * payday


def hour_weights() -> np.ndarray:
    """(categories x 24) hour-of-day intensity."""
    hours = np.arange(24)
    evening = ((hours >= 18) & (hours <= 22)).astype(float)
    lunch = ((hours >= 12) & (hours <= 13)).astype(float)
    rows = []
    for cat in CATEGORIES:
        w = HOUR_PROFILE.copy()
        if cat in ("restaurants", "entertainment"):
            w = w * (1 + 1.2 * evening + 0.6 * lunch)
        elif cat == "utilities":
            w = np.where((hours >= 7) & (hours <= 20), 2.5, 0.3)
        elif cat == "fuel":
            w = w * (1 + 0.4 * ((hours >= 7) & (hours <= 9)))
        rows.append(w)
    return np.array(rows)


def sample_categories(rng: np.random.Generator, ages: np.ndarray) -> np.ndarray:
    """Merchant category index per transaction, mildly age-dependent."""
    w = np.tile(CAT_P, (len(ages), 1))
    cash, ent, elec = (CATEGORIES.index(c) for c in ("cash_withdrawal", "entertainment",
                                                        "electronics"))  # fmt: skip
    w[:, cash] *= np.where(ages >= 65, 1.8, np.where(ages < 30, 0.6, 1.0))
    w[:, ent] *= np.where(ages < 35, 1.5, 1.0)
    w[:, elec] *= np.where(ages < 40, 1.3, 0.9)
    return sample_rows(rng, w)


def sample_amounts(rng: np.random.Generator, cat: np.ndarray, income: np.ndarray) -> np.ndarray:
    """Log-normal amounts by category, scaled by customer income (GBP, 2 decimals)."""
    median, sigma, elasticity = (
        np.array([CAT_AMOUNT[c][k] for c in CATEGORIES])[cat] for k in range(3)
    )
    rel_income = income / np.median(income)
    amount = median * rel_income**elasticity * np.exp(sigma * rng.standard_normal(len(cat)))
    is_cash = cat == CATEGORIES.index("cash_withdrawal")
    cash = np.clip(np.round(amount / 10) * 10, 10, 500)
    amount = np.where(is_cash, cash, np.maximum(amount, 0.5))
    return np.round(amount, 2)


def sample_channels(rng: np.random.Generator, cat: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Channel: atm for cash only; contactless only for amounts <= CONTACTLESS_LIMIT."""
    online_p = np.array([CAT_ONLINE_P[c] for c in CATEGORIES])[cat]
    online = rng.random(len(cat)) < online_p
    contactless = (amount <= CONTACTLESS_LIMIT) & (rng.random(len(cat)) < 0.72)
    channel = np.where(online, "online", np.where(contactless, "contactless", "card_present"))
    return np.where(cat == CATEGORIES.index("cash_withdrawal"), "atm", channel)


def sample_fraud(
    rng: np.random.Generator,
    cat: np.ndarray,
    amount: np.ndarray,
    channel: np.ndarray,
    hour: np.ndarray,
) -> np.ndarray:
    """Rare 0/1 fraud flag driven by channel, amount, night hours and category."""
    cat_median = np.array([CAT_AMOUNT[c][0] for c in CATEGORIES])[cat]
    night = (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])
    risky = np.isin(cat, [CATEGORIES.index("electronics"), CATEGORIES.index("travel")])
    score = (
        1.8 * (channel == "online")
        + 0.5 * (channel == "atm")
        - 0.6 * (channel == "contactless")
        + 0.9 * np.maximum(np.log(amount / cat_median), 0)
        + 1.6 * night
        + 1.0 * risky
    )
    p = 1 / (1 + np.exp(-(calibrate_intercept(score, TARGET_FRAUD_RATE) + score)))
    return (rng.random(len(cat)) < p).astype(np.int64)


def sample_timestamps(
    rng: np.random.Generator, cat: np.ndarray, end_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since WINDOW_START and hour of day; day restricted to [0, end_day)."""
    cdf = np.concatenate([[0.0], np.cumsum(day_weights())])
    cdf /= cdf[-1]
    u = rng.random(len(cat)) * cdf[end_day]
    day = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, WINDOW_DAYS - 1)
    hour = sample_rows(rng, hour_weights()[cat])
    seconds_in_hour = rng.integers(0, 3600, size=len(cat))
    return day * 86_400 + hour * 3600 + seconds_in_hour, hour


def build_transactions(
    rng: np.random.Generator, customers: pd.DataFrame, income: np.ndarray, counts: np.ndarray
) -> pd.DataFrame:
    """Transaction table; churned customers stop transacting at a random point."""
    n_cust = len(customers)
    churn_day = rng.integers(int(0.25 * WINDOW_DAYS), int(0.95 * WINDOW_DAYS), size=n_cust)
    end_day = np.where(customers["churned"].to_numpy() == 1, churn_day, WINDOW_DAYS)
    owner = np.repeat(np.arange(n_cust), counts)
    ages = customer_ages(customers)[owner]
    cat = sample_categories(rng, ages)
    amount = sample_amounts(rng, cat, income[owner])
    channel = sample_channels(rng, cat, amount)
    seconds, hour = sample_timestamps(rng, cat, end_day[owner])
    is_fraud = sample_fraud(rng, cat, amount, channel, hour)
    order = np.lexsort((amount, owner, seconds))  # chronological, ties broken deterministically
    start = pd.Timestamp(WINDOW_START)
    timestamps = (start + pd.to_timedelta(seconds[order], unit="s")).strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame(
        {
            "transaction_id": np.arange(5_000_001, 5_000_001 + len(order), dtype=np.int64),
            "customer_id": customers["customer_id"].to_numpy()[owner[order]],
            "timestamp": np.asarray(timestamps),
            "merchant_category": np.array(CATEGORIES)[cat[order]],
            "amount": amount[order],
            "channel": channel[order],
            "is_fraud": is_fraud[order],
        }
    )


def customer_ages(customers: pd.DataFrame) -> np.ndarray:
    """Completed years on REFERENCE_DATE from the ISO date_of_birth strings."""
    dob = pd.to_datetime(customers["date_of_birth"])
    ref = pd.Timestamp(REFERENCE_DATE)
    before = (dob.dt.month > ref.month) | ((dob.dt.month == ref.month) & (dob.dt.day > ref.day))
    return (ref.year - dob.dt.year - before.astype(int)).to_numpy()


# --------------------------------------------------------------------------- checks & report


def validate(customers: pd.DataFrame, transactions: pd.DataFrame) -> None:
    """Hard integrity checks; raise AssertionError on any violation."""
    assert customers["customer_id"].is_unique, "customer_id not unique"
    assert transactions["transaction_id"].is_unique, "transaction_id not unique"
    assert transactions["transaction_id"].is_monotonic_increasing
    assert transactions["timestamp"].is_monotonic_increasing, "ids not in time order"
    assert transactions["customer_id"].isin(customers["customer_id"]).all(), "dangling FK"
    for col in ("email", "phone", "national_id"):
        assert customers[col].is_unique, f"{col} not unique"
    digits = customers["national_id"].str.replace("-", "", regex=False)
    assert digits.str.fullmatch(r"\d{10}").all()
    assert all(luhn_valid(d) for d in digits), "bad national_id check digit"
    ages = customer_ages(customers)
    assert ages.min() >= 18 and ages.max() <= 90, "age out of range"
    assert customers["credit_score"].between(300, 850).all()
    atm = transactions["channel"] == "atm"
    cash = transactions["merchant_category"] == "cash_withdrawal"
    assert (atm == cash).all(), "atm channel must coincide with cash withdrawals"
    contactless = transactions["channel"] == "contactless"
    assert (transactions.loc[contactless, "amount"] <= CONTACTLESS_LIMIT).all()
    ts = pd.to_datetime(transactions["timestamp"])
    assert ts.min() >= pd.Timestamp(WINDOW_START) and ts.max() < pd.Timestamp(REFERENCE_DATE)


def summarize(customers: pd.DataFrame, transactions: pd.DataFrame) -> None:
    """Print row counts, rates and the correlation checks promised in the docstring."""
    ages = customer_ages(customers)
    cust = customers.assign(age=ages)
    n_txn = transactions.groupby("customer_id").size()
    cust["n_txn"] = cust["customer_id"].map(n_txn).fillna(0).astype(int)
    earners = cust[~cust["occupation"].isin(NON_EARNERS)]
    occ_income = cust.groupby("occupation")["income"].mean().sort_values()
    tx = transactions.assign(hour=transactions["timestamp"].str[11:13].astype(int))
    ts = pd.to_datetime(tx["timestamp"])
    fraud_by_channel = tx.groupby("channel")["is_fraud"].mean()
    online_ratio = fraud_by_channel["online"] / fraud_by_channel["card_present"]
    night = tx["hour"] < NIGHT_HOURS[1]
    lines = [
        f"customers: {len(cust):,} rows | transactions: {len(tx):,} rows",
        f"churn rate: {cust['churned'].mean():.3f} | fraud rate: {tx['is_fraud'].mean():.4f}",
        f"income nulls: {cust['income'].isna().mean():.3%} | "
        f"distinct postcodes: {cust['postcode'].nunique()} in "
        f"{cust['postcode'].str.split().str[0].nunique()} districts",
        "spearman(income, -(age-48)^2) among earners: "
        f"{spearman(earners['income'], -((earners['age'] - INCOME_PEAK_AGE) ** 2)):.3f}",
        "mean income by occupation: "
        + ", ".join(f"{k}={v:,.0f}" for k, v in occ_income.items())
        + f" (max/min ratio {occ_income.max() / occ_income.min():.1f})",
        f"spearman(credit_score, income): {spearman(cust['credit_score'], cust['income']):.3f} | "
        f"spearman(credit_score, age): {spearman(cust['credit_score'], cust['age']):.3f}",
        f"txn/customer: mean {cust['n_txn'].mean():.1f}, var {cust['n_txn'].var():.1f}, "
        f"zero {int((cust['n_txn'] == 0).sum())}, >=60 {int((cust['n_txn'] >= 60).sum())}, "
        f"max {cust['n_txn'].max()} | spearman(n_txn, income): "
        f"{spearman(cust['n_txn'], cust['income']):.3f}",
        f"spearman(churned, n_txn): {spearman(cust['churned'], cust['n_txn']):.3f} | "
        f"spearman(churned, credit_score): {spearman(cust['churned'], cust['credit_score']):.3f}"
        f" | churn age<30: {cust.loc[cust['age'] < 30, 'churned'].mean():.3f}"
        f" vs 30+: {cust.loc[cust['age'] >= 30, 'churned'].mean():.3f}",
        "fraud rate by channel: "
        + ", ".join(f"{k}={v:.4f}" for k, v in fraud_by_channel.items())
        + f" (online/card_present {online_ratio:.1f}x)",
        f"fraud rate night(00-06) {tx.loc[night, 'is_fraud'].mean():.4f} vs "
        f"day {tx.loc[~night, 'is_fraud'].mean():.4f} | mean amount fraud "
        f"{tx.loc[tx['is_fraud'] == 1, 'amount'].mean():.2f} vs legit "
        f"{tx.loc[tx['is_fraud'] == 0, 'amount'].mean():.2f}",
        f"timing: weekend share {(ts.dt.weekday >= 5).mean():.3f} (uniform 0.286), "
        f"evening 17-21h share {tx['hour'].between(17, 21).mean():.3f}, "
        f"night 00-06h share {night.mean():.3f}",
        "median amount by category: "
        + ", ".join(
            f"{k}={v:.0f}" for k, v in tx.groupby("merchant_category")["amount"].median().items()
        ),
    ]
    print("\n".join(lines))


# --------------------------------------------------------------------------- main


def generate(n_customers: int, n_transactions: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build both tables deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    customers, income = build_customers(rng, fake, n_customers)
    ages = customer_ages(customers)
    counts = transaction_counts(rng, income, ages, n_transactions)
    customers["churned"] = assign_churn(rng, ages, customers["credit_score"].to_numpy(), counts)
    transactions = build_transactions(rng, customers, income, counts)
    return customers, transactions


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV with stable formatting (2-decimal floats, empty string for null)."""
    frame.to_csv(path, index=False, float_format="%.2f", lineterminator="\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_data/bank"))
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--transactions", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    customers, transactions = generate(args.customers, args.transactions, args.seed)
    validate(customers, transactions)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(customers, args.out / "customers.csv")
    write_csv(transactions, args.out / "transactions.csv")
    summarize(customers, transactions)
    sizes = ", ".join(
        f"{name}={(args.out / name).stat().st_size / 1e6:.2f} MB"
        for name in ("customers.csv", "transactions.csv")
    )
    print(f"wrote {args.out} ({sizes}) in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
