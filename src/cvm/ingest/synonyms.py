"""French, Dutch and English names of the hub columns and of their allowed values.

Used by ``cvm sources suggest`` to propose a mapping from an export's headers. Names are compared
in the form :func:`fold` gives them (no accents, no case, punctuation as spaces), so ``N° client``,
``n client`` and ``N°Client`` are one name. Synonyms are per column name, whatever the table: a
table only offers its own columns.
"""

from __future__ import annotations

import re

from cvm.i18n.fold import fold as accentless

_INVOICE: tuple[str, ...] = (
    "n facture", "numero facture", "numero de facture", "facture", "factuurnummer", "factuurnr", "factuur nr",
    "factuur", "invoice", "invoice number", "invoice no", "invoice id",
)  # fmt: skip

COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "n client", "no client", "num client", "numero client", "numero de client", "code client", "id client",
        "ref client", "client", "klantnummer", "klant nr", "klantnr", "klant id", "klantcode", "klant",
        "relatienummer", "debiteurnummer", "customer number", "customer no", "customer", "account number",
    ),
    "name": (
        "nom", "nom client", "raison sociale", "denomination", "naam", "klantnaam", "bedrijfsnaam", "customer name",
    ),
    "email": ("e mail", "courriel", "adresse email", "adresse e mail", "e mailadres", "emailadres", "mail"),
    "phone": ("telephone", "tel", "numero de telephone", "gsm", "telefoon", "telefoonnummer", "mobile", "phone number"),
    "birth_date": ("date de naissance", "naissance", "geboortedatum", "date of birth", "birthdate", "dob"),
    "acquired_at": (
        "date d acquisition", "date acquisition", "date de creation", "client depuis", "date d inscription",
        "klant sinds", "aanmaakdatum", "datum aanmaak", "startdatum klant", "acquisition date", "customer since",
        "created", "created at", "creation date", "signup date",
    ),
    "kind": ("type", "type client", "type de client", "categorie client", "klanttype", "type klant", "soort klant"),
    "region": ("region", "regio", "province", "provincie", "gewest", "zone"),
    "sector": ("secteur", "secteur d activite", "activite", "branche", "industrie", "industry", "nace"),
    "channel": ("canal", "canal de vente", "kanaal", "verkoopkanaal", "sales channel", "canal de contact"),
    "timezone": ("fuseau horaire", "tijdzone", "time zone"),
    "consent_email": ("optin email", "opt in email", "consentement email", "accord email", "toestemming email"),
    "consent_sms": ("optin sms", "opt in sms", "consentement sms", "accord sms", "toestemming sms"),
    "consent_phone": ("optin telephone", "consentement telephone", "accord telephone", "toestemming telefoon"),
    "consent_mail": ("optin courrier", "consentement courrier", "accord courrier", "toestemming post"),
    "subscription_id": (
        "n contrat", "numero contrat", "numero de contrat", "contrat", "contractnummer", "contract nr", "contract",
        "n abonnement", "abonnement", "abonnementsnummer", "subscription", "contract id",
    ),
    "product": ("produit", "article", "offre", "formule", "artikel", "dienst", "product name", "item"),
    "start": ("date de debut", "debut", "date d effet", "startdatum", "begindatum", "ingangsdatum", "start date"),
    "end": ("date de fin", "fin", "date de resiliation", "einddatum", "eind", "opzegdatum", "end date"),
    "mrr": (
        "mensualite", "montant mensuel", "prix mensuel", "maandbedrag", "maandelijks bedrag", "maandprijs",
        "monthly amount", "monthly fee", "monthly revenue",
    ),
    "end_reason": (
        "motif de resiliation", "motif", "raison", "reden", "opzegreden", "reden opzegging", "churn reason",
    ),
    "transaction_id": (*_INVOICE, "numero", "n commande", "numero de commande", "bestelnummer", "ordernummer",
                       "order id", "order number", "transaction"),
    "ts": (
        "date", "datum", "date facture", "date de facture", "factuurdatum", "date de commande", "besteldatum",
        "date heure", "horodatage", "tijdstip", "timestamp", "date time", "datetime", "date contact",
    ),
    "amount": (
        "montant", "montant ttc", "montant htva", "montant ht", "total", "prix", "valeur", "bedrag", "totaal",
        "prijs", "waarde", "bedrag incl btw", "total amount", "value",
    ),
    "margin": ("marge", "marge brute", "winstmarge", "brutomarge", "marge bedrag", "gross margin"),
    "invoice_id": _INVOICE,
    "due_date": (
        "date d echeance", "echeance", "date limite", "date limite de paiement", "vervaldatum", "vervaldag",
        "uiterste betaaldatum", "due date", "due",
    ),
    "paid_date": (
        "date de paiement", "date paiement", "paye le", "date reglement", "betaaldatum", "betaald op",
        "datum betaling", "payment date", "paid on", "paid",
    ),
    "contact_id": (
        "n contact", "numero contact", "n ticket", "ticket", "dossier", "contactnummer", "ticketnummer", "case",
        "case id", "ticket id",
    ),
    "direction": ("sens", "entrant sortant", "richting", "inkomend uitgaand"),
    "topic": ("sujet", "objet", "motif contact", "categorie", "onderwerp", "categorie contact", "subject"),
    "outcome": ("resultat", "issue", "statut", "resultaat", "uitkomst", "status", "result"),
    "text": ("texte", "description", "commentaire", "notes", "tekst", "omschrijving", "opmerking", "message"),
    "nps": ("score nps", "note nps", "nps score", "note", "cijfer", "aanbevelingsscore"),
    "would_recommend": ("recommanderait", "recommanderiez vous", "zou aanbevelen", "zou u ons aanbevelen"),
    "did_recommend": ("a recommande", "heeft aanbevolen", "recommended"),
    "comment": ("commentaire", "remarque", "verbatim", "opmerking", "commentaar", "feedback"),
    "source": ("source", "agence", "agence de notation", "bureau", "bron", "ratingbureau", "agency"),
    "rating": ("notation", "cote", "note de credit", "beoordeling", "kredietrating", "credit rating", "grade"),
    "score": ("score", "score credit", "kredietscore", "credit score"),
}  # fmt: skip

VALUE_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "kind": {
        "B2C": (
            "particulier", "particuliers", "prive", "personne physique", "consommateur", "consument", "particulieren",
            "privepersoon", "residentieel", "consumer", "private", "individual", "residential",
        ),
        "B2B": (
            "entreprise", "societe", "professionnel", "pro", "personne morale", "independant", "bedrijf", "zakelijk",
            "onderneming", "zelfstandige", "business", "company", "corporate", "professional",
        ),
    },
    "channel": {
        "direct": ("directe", "vente directe", "rechtstreeks", "eigen verkoop", "online"),
        "distribution": ("distributeur", "revendeur", "partenaire", "indirect", "distributie", "wederverkoper",
                         "partner", "reseller", "dealer"),
    },
    "direction": {
        "inbound": ("entrant", "entree", "inkomend", "in", "incoming"),
        "outbound": ("sortant", "sortie", "uitgaand", "uit", "out", "outgoing"),
    },
    "end_reason": {
        "too_expensive": ("trop cher", "prix", "te duur", "prijs"),
        "switched_service": ("concurrence", "concurrent", "concurrentie", "competitor"),
        "payment_failed": ("impaye", "defaut de paiement", "wanbetaling", "niet betaald"),
        "other": ("autre", "divers", "andere", "overig"),
    },
}  # fmt: skip


def fold(text: str) -> str:
    """``"N° Client"`` -> ``"n client"``: :func:`cvm.i18n.fold.fold` (no accents or case), then punctuation and
    ``_`` as single spaces."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", accentless(text)).split())
