"""What the model library shows: each catalog model with a fit label per
quantization for this machine, the recommended pick marked, and a searched
repo's quantizations labelled the same way."""

from __future__ import annotations

from dataclasses import dataclass

from backend.modelhub.catalog import Catalog, CatalogEntry, load_catalog
from backend.modelhub.fit import DEFAULT_CTX, Fit, assess, estimate, recommend
from backend.modelhub.machine import Machine
from backend.modelhub.records import QuantOption


@dataclass(frozen=True)
class Offer:
    """A catalog model and how each of its quantizations fits."""

    entry: CatalogEntry
    fits: tuple[Fit, ...]
    """One per quantization, in the catalog's order."""
    recommended: str | None = None
    """The quantization recommended for this machine, when this model is
    the recommendation (one model at most)."""


@dataclass(frozen=True)
class QuantFit:
    """A searched repo's quantization and how it fits (a rule-of-thumb KV
    cache: a repo outside the catalog has no known attention shape)."""

    option: QuantOption
    fit: Fit


def offers(
    machine: Machine, catalog: Catalog | None = None, n_ctx: int = DEFAULT_CTX
) -> list[Offer]:
    """Every catalog model, labelled for ``machine``, the recommendation marked."""
    catalog = catalog or load_catalog()
    pick = recommend(machine, catalog, n_ctx)
    out = []
    for entry in catalog.entries:
        fits = tuple(assess(entry, q.name, machine, n_ctx) for q in entry.quants)
        chosen = pick.fit.quant if pick is not None and pick.entry.name == entry.name else None
        out.append(Offer(entry, fits, chosen))
    return out


def quant_fits(
    repo: str, options: list[QuantOption], machine: Machine, n_ctx: int = DEFAULT_CTX
) -> list[QuantFit]:
    """``options`` of ``repo`` labelled for ``machine``."""
    return [
        QuantFit(o, estimate(o.total_bytes, machine, name=repo, quant=o.quant or "", n_ctx=n_ctx))
        for o in options
    ]


def first_offer(catalog_offers: list[Offer]) -> tuple[CatalogEntry, Fit] | None:
    """The recommended (model, quantization), if any."""
    for offer in catalog_offers:
        for fit in offer.fits:
            if offer.recommended == fit.quant:
                return offer.entry, fit
    return None
