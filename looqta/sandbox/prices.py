"""The sandbox's price control: change what a site charges, so that the next crawl sees prices move.

A test control beside the faults API, not part of the site mirror (``/__sandbox__/prices``):

- ``POST {"source_id": ID, "price": "1299.00"}`` sets one product's price;
- ``POST {"share": 0.2, "step_percent": 5, "seed": 7}`` moves that share of the site's products up
  or down by the step; which products move, and which way, is fixed by the seed;
- ``GET`` lists every product whose price changed, with its original price; ``DELETE`` restores them.

The new price reaches every page of the product at once: search results, product pages, JSON-LD.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import web

from looqta.sandbox.context import SITE_KEY
from looqta.sandbox.variants import share

if TYPE_CHECKING:
    from looqta.sandbox.catalogue import Catalogue

logger = logging.getLogger(__name__)

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PriceRequest:
    """One validated ``POST``: a single product's new price, or a seeded step for a share."""

    source_id: str | None = None
    price: Decimal | None = None
    share: float | None = None
    step_percent: float | None = None
    seed: int = 0

    @classmethod
    def from_json(cls, data: Any) -> PriceRequest:
        """Validate a decoded JSON body; raise ``ValueError`` with the reason."""
        if not isinstance(data, dict):
            raise ValueError("price body must be a JSON object")
        unknown = sorted(set(data) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown price fields: {unknown}")
        if "source_id" in data:
            if set(data) != {"source_id", "price"} or not isinstance(data["source_id"], str):
                raise ValueError("a single change is {source_id: str, price: number or string}")
            return cls(source_id=data["source_id"], price=_positive_price(data["price"]))
        share_, step = data.get("share"), data.get("step_percent")
        if not _is_number(share_) or not 0 < share_ <= 1:
            raise ValueError("share must be a number in (0, 1]")
        if not _is_number(step) or not 0 < step < 100:
            raise ValueError("step_percent must be a number in (0, 100)")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("seed must be an int")
        return cls(share=float(share_), step_percent=float(step), seed=seed)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_price(raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("price must be a number or a decimal string")
    try:
        price = Decimal(str(raw)).quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"price is not a number: {raw!r}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError("price must be > 0")
    return price


class PriceBook:
    """The price changes of one site's catalogue, and the originals to restore."""

    def __init__(self, site: str, catalogue: Catalogue) -> None:
        self.site = site
        self.catalogue = catalogue
        self.original: dict[str, Decimal] = {}

    def apply(self, request: PriceRequest) -> dict[str, dict[str, str]]:
        """Apply one request; what changed: ``{source_id: {"old": ..., "price": ...}}``."""
        if request.source_id is not None and request.price is not None:
            if self.catalogue.get(request.source_id) is None:
                raise KeyError(request.source_id)
            return self._set({request.source_id: request.price})
        assert request.share is not None
        assert request.step_percent is not None
        factor_up = 1 + Decimal(str(request.step_percent)) / 100
        factor_down = 1 - Decimal(str(request.step_percent)) / 100
        new: dict[str, Decimal] = {}
        for product in self.catalogue.products:
            key = (request.seed, self.site, product.source_id)
            if share(*key, "reprice") < request.share:
                up = share(*key, "direction") < 0.5
                new[product.source_id] = (product.price * (factor_up if up else factor_down)).quantize(_CENT)
        return self._set(new)

    def _set(self, prices: dict[str, Decimal]) -> dict[str, dict[str, str]]:
        changed = {}
        for source_id, price in prices.items():
            old = self.catalogue.get(source_id)
            assert old is not None
            self.original.setdefault(source_id, old.price)
            self.catalogue.set_price(source_id, price)
            changed[source_id] = {"old": str(old.price), "price": str(price)}
        return changed

    def changes(self) -> dict[str, dict[str, str]]:
        current = {sid: self.catalogue.get(sid) for sid in self.original}
        return {
            sid: {"original": str(self.original[sid]), "price": str(product.price)}
            for sid, product in current.items()
            if product is not None
        }

    def reset(self) -> None:
        for source_id, price in self.original.items():
            self.catalogue.set_price(source_id, price)
        self.original.clear()


PRICES_KEY = web.AppKey("looqta_prices", PriceBook)


async def _get_prices(request: web.Request) -> web.Response:
    return web.json_response(request.app[PRICES_KEY].changes())


async def _post_prices(request: web.Request) -> web.Response:
    try:
        change = PriceRequest.from_json(await request.json())
        changed = request.app[PRICES_KEY].apply(change)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return web.json_response({"error": str(exc)}, status=400)
    except KeyError as exc:
        return web.json_response({"error": f"no product {exc.args[0]!r} on this site"}, status=404)
    logger.info("prices changed on %s: %d products", request.app[PRICES_KEY].site, len(changed))
    return web.json_response({"changed": changed})


async def _delete_prices(request: web.Request) -> web.Response:
    request.app[PRICES_KEY].reset()
    return web.json_response({})


def add_price_routes(app: web.Application) -> None:
    """Attach the price book of the app's catalogue and its ``/__sandbox__/prices`` routes."""
    context = app[SITE_KEY]
    app[PRICES_KEY] = PriceBook(context.site, context.catalogue)
    app.router.add_get("/__sandbox__/prices", _get_prices)
    app.router.add_post("/__sandbox__/prices", _post_prices)
    app.router.add_delete("/__sandbox__/prices", _delete_prices)
