"""The shape issue 18 asks the code to keep: small modules, one way through the house.

Static checks on the source (sizes, imports, who writes the offers and products collections), and one
traced item: the looqta modules an item crosses from the item pipelines into the store.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mongo_fixtures import make_item, run, store_settings
from scrapy.pipelines import ItemPipelineManager
from scrapy.utils.test import get_crawler

from looqta import settings as project_settings
from looqta.pipelines.store import MongoPipeline

if TYPE_CHECKING:
    from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "looqta"
MAX_LINES = 400
#: An item from spider to store crosses at most this many looqta modules (issue 18's goal).
MAX_ITEM_PATH_MODULES = 8


def modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_over_400_lines_outside_the_sandbox() -> None:
    long = {
        module_name(path): lines
        for path in modules()
        if "sandbox" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_file_pool_and_the_store_share_the_contract_module_and_nothing_else() -> None:
    files_side = [*modules(PACKAGE / "files"), PACKAGE / "pipelines" / "files.py"]
    store_side = [*modules(PACKAGE / "store"), PACKAGE / "pipelines" / "store.py"]
    reaches = {
        module_name(path): sorted(
            name for name in imported(path) if name.startswith(("looqta.store", "looqta.pipelines.store"))
        )
        for path in files_side
    } | {
        module_name(path): sorted(
            name for name in imported(path) if name.startswith(("looqta.files", "looqta.pipelines.files"))
        )
        for path in store_side
    }
    assert {name: found for name, found in reaches.items() if found} == {}
    assert any("looqta.records" in imported(path) for path in files_side)
    assert any("looqta.records" in imported(path) for path in store_side)


#: Each collection and the one module that writes it (issue 21: offers and products apart).
WRITERS = {"OFFERS": "looqta.store.repository", "PRODUCTS": "looqta.match.products"}
WRITE_CALLS = (
    "bulk_write",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
)


def writers_of(constant: str) -> list[str]:
    """Modules naming a collection's constant (or ``db.<name>`` / ``db["<name>"]``) that also write."""
    name = constant.lower()
    mention = re.compile(rf"\b{constant}\b|\[[\"']{name}[\"']\]|\b(db|database)\.{name}\b")
    return sorted(
        module_name(path)
        for path in modules()
        if "sandbox" not in path.parts
        and mention.search(text := path.read_text())
        and any(f".{call}(" in text for call in WRITE_CALLS)
    )


def test_one_module_writes_each_collection_offers_and_products() -> None:
    assert {constant: writers_of(constant) for constant in WRITERS} == {
        constant: [module] for constant, module in WRITERS.items()
    }


def test_an_item_crosses_at_most_8_modules_one_way_from_the_pipelines_to_the_store(
    mongo_uri: str, mongo_db: str, tmp_path: Path, db: Any
) -> None:
    settings = {
        **{name: getattr(project_settings, name) for name in ("ITEM_PIPELINES",)},
        **store_settings(mongo_uri, mongo_db, tmp_path),
        "LOOQTA_FILES_ENABLED": False,  # after the store: not on the way there
        "LOOQTA_STORE_MATCH_ENABLED": False,  # after the store, in a task of its own: not on the way there
    }
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    manager = ItemPipelineManager.from_crawler(crawler)
    crossed: list[str] = []

    def trace(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(str(PACKAGE)):
            name = module_name(Path(frame.f_code.co_filename))
            if not crossed or crossed[-1] != name:
                crossed.append(name)

    [store] = [mw for mw in manager.middlewares if isinstance(mw, MongoPipeline)]

    async def main() -> None:
        await manager.open_spider_async()
        sys.setprofile(trace)
        try:
            await manager.process_item_async(make_item(1))
            await store._writer.flush()  # what the writer's ticker does: the document reaches the store
        finally:
            sys.setprofile(None)
        await manager.close_spider_async()

    run(main())
    assert db.offers.count_documents({}) == 1
    path = list(dict.fromkeys(crossed))
    assert len(path) <= MAX_ITEM_PATH_MODULES, path
    assert path[-1] == "looqta.store.repository", path  # the write itself was traced
    order = [name for name in path if name.startswith("looqta.pipelines.")]
    assert order == ["looqta.pipelines.validate", "looqta.pipelines.dedup", "looqta.pipelines.store"]


def test_the_architecture_page_names_only_modules_that_exist() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"looqta/[\w/<>.]+\.py|looqta/[\w/]+/", page))
    missing = sorted(name for name in named if "<" not in name and not (ROOT / name).exists())
    assert missing == []
    assert len(named) > 15
