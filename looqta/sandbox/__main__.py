"""``python -m looqta.sandbox``: serve the offline site stand-ins on loopback until signalled."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from looqta.sandbox import sites as registry
from looqta.sandbox.server import SandboxConfig, SandboxServer


def _parse_args(argv: list[str] | None) -> tuple[SandboxConfig, bool]:
    parser = argparse.ArgumentParser(prog="python -m looqta.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only")
    names = registry.names()
    layout = ", ".join(f"{name} on P+{i}" for i, name in enumerate(names))
    parser.add_argument(
        "--port", type=int, default=0, help=f"0: free ports; P: {layout}, then their CDNs in that order"
    )
    parser.add_argument("--sites", default=",".join(names), help="comma-separated site names")
    parser.add_argument("--products", type=int, default=10_000, help="products per site")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--pdf-pages", type=int, default=1, help="default datasheet length")
    parser.add_argument(
        "--no-cdn", action="store_true", help="serve images and documents from each site's own origin"
    )
    parser.add_argument(
        "--build", default="current", help="front-end build whose hashed class names pages carry (noon)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line of URLs")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sites = tuple(site.strip() for site in args.sites.split(",") if site.strip())
    try:
        config = SandboxConfig(
            host=args.host,
            port=args.port,
            sites=sites,
            products=args.products,
            seed=args.seed,
            pdf_pages=args.pdf_pages,
            cdn=not args.no_cdn,
            build=args.build,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return config, args.json


async def _serve(config: SandboxConfig, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = SandboxServer(config)
    try:
        urls = await server.start()
        if as_json:
            print(json.dumps(urls), flush=True)
        else:
            for site, url in urls.items():
                print(site, url, flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    config, as_json = _parse_args(argv)
    try:
        asyncio.run(_serve(config, as_json))
    except OSError as exc:  # e.g. the fixed port is taken
        print(f"sandbox: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
