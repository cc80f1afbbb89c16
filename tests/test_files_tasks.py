"""A new file task type is one entry in the registry and one worker function (issue 18's goal).

The test adds an ``md5`` step after ``upload`` the way a developer would: a plain function on
paths (here, in this module; in the project, in ``looqta/files/work.py``) and its entry in
``looqta.files.tasks.TASKS`` (with ``upload`` pointing at it). Nothing else changes, and real
worker processes run it and put its field in the file's record.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from test_files_pool import make_config

from looqta.files import tasks
from looqta.files.queue import DONE
from looqta.files.service import FileService
from looqta.files.storage import safe_path
from looqta.sandbox import assets

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.files.config import WorkOptions


def md5(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """The new task type's function: the stored file's MD5."""
    digest = hashlib.md5(safe_path(options.objects_dir, payload["path"]).read_bytes(), usedforsecurity=False)
    return {"md5": digest.hexdigest()}


@pytest.fixture
def with_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    upload = tasks.TASKS["upload"]
    monkeypatch.setitem(tasks.TASKS, "upload", replace(upload, next_step=tasks.then("md5")))
    monkeypatch.setitem(tasks.TASKS, "md5", tasks.TaskType("md5", md5, record_fields=("md5",)))


def test_a_new_task_type_is_one_entry_and_one_function(tmp_path: Path, with_md5: None) -> None:
    body = assets.image_bytes("N1", "png")

    async def scenario() -> dict[str, Any]:
        service = FileService(make_config(tmp_path))
        await service.start()
        try:
            [file_id] = await service.open_batch("noon:N1", [("http://h/N1.png", "image")], 20)
            waiting = await service.add_body(
                file_id, "http://h/N1.png", "image", body, declared_type="image/png", declared_name="N1.png",
                priority=20,
            )  # fmt: skip
            record: dict[str, Any] = await waiting
            types = [task.type for task in await service.tasks()]
            assert types == ["store", "thumbnail", "upload", "md5"]
            return record
        finally:
            await service.close()

    record = asyncio.run(scenario())
    assert record["status"] == DONE
    assert record["md5"] == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert list(record).index("md5") == list(record).index("stored") + 1  # its place in the record
