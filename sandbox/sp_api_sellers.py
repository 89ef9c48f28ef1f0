"""The sandbox's Sellers API: ``getMarketplaceParticipations``, shaped as Amazon's model (sellers.json) says.

The default seller sells on the EU region's main marketplaces; tests can give another list.
"""

from __future__ import annotations

from typing import Any

PARTICIPATIONS_PATH = "/sellers/v1/marketplaceParticipations"
SELLERS_LIMITS = {"getMarketplaceParticipations": (0.016, 15)}
# (country code, marketplace id, name, currency, language, domain)
EU_MARKETPLACES = [
    ("GB", "A1F83G8C2ARO7P", "Amazon.co.uk", "GBP", "en_GB", "www.amazon.co.uk"),
    ("DE", "A1PA6795UKMFR9", "Amazon.de", "EUR", "de_DE", "www.amazon.de"),
    ("FR", "A13V1IB3VIYZZH", "Amazon.fr", "EUR", "fr_FR", "www.amazon.fr"),
    ("IT", "APJ6JRA9NG5V4", "Amazon.it", "EUR", "it_IT", "www.amazon.it"),
    ("ES", "A1RKKUPIHCS9HS", "Amazon.es", "EUR", "es_ES", "www.amazon.es"),
    ("NL", "A1805IZSGTT6HS", "Amazon.nl", "EUR", "nl_NL", "www.amazon.nl"),
    ("SE", "A2NODRKZP88ZB9", "Amazon.se", "SEK", "sv_SE", "www.amazon.se"),
    ("PL", "A1C3SOZRARQ6R3", "Amazon.pl", "PLN", "pl_PL", "www.amazon.pl"),
    ("BE", "AMEN7PMS3EDWL", "Amazon.com.be", "EUR", "fr_BE", "www.amazon.com.be"),
    ("IE", "A28R8C7NBKEWEA", "Amazon.ie", "EUR", "en_IE", "www.amazon.ie"),
]


def participations(participating: set[str] | None = None, store: str = "Tea & Things") -> dict[str, Any]:
    """The getMarketplaceParticipations answer: every EU marketplace, participating where ``participating`` says.

    ``participating`` holds country codes; None means all of them.
    """
    payload = []
    for country, marketplace_id, name, currency, language, domain in EU_MARKETPLACES:
        payload.append({
            "marketplace": {"id": marketplace_id, "name": name, "countryCode": country,
                            "defaultCurrencyCode": currency, "defaultLanguageCode": language, "domainName": domain},
            "participation": {"isParticipating": participating is None or country in participating,
                              "hasSuspendedListings": False},
            "storeName": store})
    return {"payload": payload}
