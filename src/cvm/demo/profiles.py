"""The customers table: synthetic names, contact details, firmographics and consents."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cvm.demo.arrays import DAYS_PER_YEAR, Window, date_array, strings
from cvm.demo.latent import Population
from cvm.demo.params import CHANNELS, PHONE_PREFIXES, REGIONS, SECTORS, TIMEZONES

FIRST_NAMES = (
    "Anna",
    "Bram",
    "Chloe",
    "Daan",
    "Emma",
    "Finn",
    "Julia",
    "Lucas",
    "Sophie",
    "Thomas",
    "Lotte",
    "Sem",
    "Eva",
    "Noah",
    "Lisa",
    "Milan",
    "Sara",
    "Jesse",
    "Louise",
    "Hugo",
    "Camille",
    "Jules",
    "Manon",
    "Arthur",
    "Lea",
    "Louis",
    "Ines",
    "Paul",
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Olivia",
    "Jack",
    "Grace",
    "Charlie",
    "Emily",
    "James",
    "Mia",
)
LAST_NAMES = (
    "de Jong",
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "de Boer",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Evans",
    "Walker",
    "Wright",
    "Green",
)
_LEGAL_FORMS = ("B.V.", "SARL", "Ltd")  # by timezone
_CONSENT_P = {"email": (0.6, 0.7), "sms": (0.35, 0.3), "phone": (0.3, 0.5), "mail": (0.5, 0.5)}  # (B2C, B2B)


def _slug(names: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-case e-mail-safe form of each name."""
    return tuple(n.lower().replace(" ", "") for n in names)


def customers_columns(
    pop: Population, customer_id: pa.Array, window: Window, rng: np.random.Generator
) -> dict[str, pa.Array]:
    """Columns of the customers table, in any order."""
    n = pop.n
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    columns: dict[str, pa.Array] = {
        "customer_id": customer_id,
        "name": _names(pop, first, last),
        "email": pc.binary_join_element_wise(
            strings(_slug(FIRST_NAMES), first),
            ".",
            strings(_slug(LAST_NAMES), last),
            pc.cast(pa.array(np.arange(1, n + 1)), pa.string()),
            "@example.com",
            "",
        ),
        "phone": pc.binary_join_element_wise(
            strings(PHONE_PREFIXES, pop.timezone),
            pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**8, n)), pa.string()), width=8, padding="0"),
            "",
        ),
        "birth_date": _birth_dates(pop, window, rng),
        "acquired_at": date_array(window, pop.acquired),
        "kind": strings(("B2C", "B2B"), pop.b2b.astype(np.int64)),
        "region": strings(REGIONS, pop.region),
        "sector": strings(SECTORS, pop.sector),
        "channel": strings(CHANNELS, (~pop.direct).astype(np.int64)),
        "timezone": strings(TIMEZONES, pop.timezone),
    }
    for medium, (p_b2c, p_b2b) in _CONSENT_P.items():
        columns[f"consent_{medium}"] = pa.array(rng.random(n) < np.where(pop.b2b, p_b2b, p_b2c))
    return columns


def _names(pop: Population, first: np.ndarray, last: np.ndarray) -> pa.Array:
    """Person names for consumers, "<Last> <Sector> <legal form>" for businesses."""
    person = pc.binary_join_element_wise(strings(FIRST_NAMES, first), strings(LAST_NAMES, last), " ")
    company = pc.binary_join_element_wise(
        strings(tuple(s.title() for s in LAST_NAMES), last),
        strings(tuple(s.capitalize() for s in SECTORS), pop.sector),
        strings(_LEGAL_FORMS, pop.timezone),
        " ",
    )
    return pc.if_else(pa.array(pop.b2b), company, person)


def _birth_dates(pop: Population, window: Window, rng: np.random.Generator) -> pa.Array:
    """Birth dates of consumers aged 18-90 at the window end; null for businesses."""
    age_days = np.clip(rng.normal(45.0, 15.0, pop.n), 18.0, 90.0) * DAYS_PER_YEAR
    return date_array(window, window.horizon - 1 - age_days, mask=pop.b2b)
