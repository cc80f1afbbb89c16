"""Look at the store from a terminal.

    python -m looqta.store search iphone 15 [--limit 20]   cheapest offers across sites
    python -m looqta.store history amazon B0CHX1W1XY        an offer's price history
    python -m looqta.store products iphone 15 [--limit 20]  products: each site's price, the cheapest (*),
                                                            the change since the previous price
    python -m looqta.store server status|start|stop         the embedded server (MONGO_URI empty)

Settings come from the Scrapy project (``MONGO_URI``, ``MONGO_DATABASE``,
``LOOQTA_STORE_*``); ``--uri``, ``--database``, ``--data-dir`` and ``-s NAME=VALUE``
override them.
Exit status: 0 done, 1 nothing found (or no server running), 2 error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pymongo.errors import PyMongoError

from looqta.match.products import ProductStore
from looqta.store import product_table
from looqta.store.cli_options import add_store_options, check_store_options, load_config
from looqta.store.config import StoreConfig, StoreConfigError
from looqta.store.connection import connect, describe, redact
from looqta.store.embedded import EmbeddedServerError, ensure_server, running_server, stop_server

TITLE_WIDTH = 60


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m looqta.store",
        description="Search looqta's store and manage its embedded server.",
    )
    add_store_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="cheapest offers whose title holds every word")
    search.add_argument("words", nargs="+")
    search.add_argument("--limit", type=int, default=20, help="most offers to show (default: 20)")
    products = commands.add_parser(
        "products", help="products whose titles hold every word, every site's price"
    )
    products.add_argument("words", nargs="+")
    products.add_argument("--limit", type=int, default=20, help="most products to show (default: 20)")
    history = commands.add_parser("history", help="price history of one offer")
    history.add_argument("source", help="site, e.g. amazon")
    history.add_argument("source_id", help="the site's product id")
    server = commands.add_parser("server", help="the embedded server")
    server.add_argument("action", choices=("status", "start", "stop"))
    args = parser.parse_args(argv)
    if args.command in ("search", "products") and args.limit < 1:
        parser.error("--limit must be >= 1")
    check_store_options(parser, args)
    return args


def format_price(value: Any) -> str:
    return str(value.to_decimal()) if hasattr(value, "to_decimal") else str(value)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


async def search(config: StoreConfig, words: list[str], limit: int) -> int:
    connection = await connect(config)
    try:
        offers = await connection.repository.search(" ".join(words), limit)
    finally:
        await connection.close()
    if not offers:
        print(f"No offer matches {' '.join(words)!r}.", file=sys.stderr)
        return 1
    print(f"{'PRICE':>12}  {'CUR':<4} {'SOURCE':<8} {'ID':<14} {'TITLE':<{TITLE_WIDTH}}  URL")
    for offer in offers:
        print(
            f"{format_price(offer['price']):>12}  {offer['currency']:<4} {offer['source']:<8} "
            f"{offer['source_id']:<14} {shorten(offer['title'], TITLE_WIDTH):<{TITLE_WIDTH}}  {offer['url']}"
        )
    return 0


async def products(config: StoreConfig, words: list[str], limit: int) -> int:
    connection = await connect(config)
    try:
        await connection.repository.migrate()
        found = await ProductStore(connection.repository.database).search(" ".join(words), limit)
    finally:
        await connection.close()
    if not found:
        print(f"No product matches {' '.join(words)!r}.", file=sys.stderr)
        return 1
    for line in product_table.lines(found):
        print(line)
    return 0


async def history(config: StoreConfig, source: str, source_id: str) -> int:
    connection = await connect(config)
    try:
        product = await connection.repository.product(source, source_id)
        prices = await connection.repository.price_history(source, source_id)
    finally:
        await connection.close()
    if product is None:
        print(f"No product {source}:{source_id} in the store.", file=sys.stderr)
        return 1
    print(f"{source}:{source_id}  {product['title']}")
    now = f"{format_price(product['price'])} {product['currency']}"
    print(f"now {now}, last seen {product['seen_at']:%Y-%m-%d %H:%M} UTC")
    print(f"{'SEEN AT (UTC)':<20} {'PRICE':>12}  CUR")
    for entry in prices:
        seen_at = entry["seen_at"]
        print(f"{seen_at:%Y-%m-%d %H:%M:%S}  {format_price(entry['price']):>12}  {entry['currency']}")
    return 0


def server(config: StoreConfig, action: str) -> int:
    if not config.embedded:
        print(f"MONGO_URI is set ({redact(config.uri)}): looqta runs no server of its own.", file=sys.stderr)
        return 1
    if action == "start":
        state = ensure_server(
            config.data_dir, config.server_start_timeout_seconds, config.server_idle_seconds
        )
    elif action == "stop":
        stopped = stop_server(config.data_dir)
        print(f"Stopped the store server pid {stopped.pid}." if stopped else "No store server was running.")
        return 0
    else:
        found = running_server(config.data_dir)
        if found is None:
            print(f"No store server is running for {config.data_dir}.")
            return 1
        state = found
    print(
        f"running  pid {state.pid}  {redact(state.uri)}  since {state.started_at}  data {state.storage_path}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args)
        if args.command == "server":
            return server(config, args.action)
        if args.command == "search":
            return asyncio.run(search(config, args.words, args.limit))
        if args.command == "products":
            return asyncio.run(products(config, args.words, args.limit))
        return asyncio.run(history(config, args.source, args.source_id))
    except (StoreConfigError, EmbeddedServerError, ValueError) as error:
        print(f"looqta.store: {error}", file=sys.stderr)
    except PyMongoError as error:
        print(f"looqta.store: the store did not answer: {describe(error)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
