"""The file task types, declared in one table: a new type is one entry here and one function.

Each :class:`TaskType` names its worker function (a plain function on paths and bytes, in
:mod:`looqta.files.work`), the step that follows it in a file's chain (given the file's record
so far), the fields it adds to that record, and what finishing it means: the next step of a
file, the end of the file, or (``ends=BATCH``) the write of a finished batch's records.

    store ──► thumbnail (images) ──────► upload ──► file done
          └─► extract_text (PDF, DOCX) ──┘
    every file of a batch ended, its item gone ──► store_records
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.files import work
from looqta.files.checks import IMAGE_TYPES

if TYPE_CHECKING:
    from looqta.files.config import WorkOptions

    WorkerFunction = Callable[[dict[str, Any], WorkOptions], dict[str, Any]]

#: What finishing a task means: a step in a file's chain, or the write of a batch's records.
FILE, BATCH = "file", "batch"


def _finished(record: Mapping[str, Any]) -> str | None:
    return None


def then(step: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A next step that does not depend on the record."""

    def next_step(record: Mapping[str, Any]) -> str | None:
        return step

    return next_step


def after_store(record: Mapping[str, Any]) -> str | None:
    return "thumbnail" if record["mime_type"] in IMAGE_TYPES else "extract_text"


@dataclass(frozen=True)
class TaskType:
    name: str
    function: WorkerFunction
    #: The task that follows, given the file's record so far; None: the file is finished.
    next_step: Callable[[Mapping[str, Any]], str | None] = _finished
    #: The fields of its result that a file's record keeps, in the order the feed shows them.
    record_fields: tuple[str, ...] = ()
    #: FILE: a step of a file's chain. BATCH: runs once every file of its batch has ended.
    ends: str = FILE
    #: Its payload's ``spool`` file (a downloaded body) is removed once it ends, either way.
    spooled: bool = False
    #: Failed because the store was unreachable on every attempt: pending again at the next start.
    retried_next_run: bool = False
    #: Its priority, relative to its batch's.
    priority_offset: int = 0


#: The type a file starts with once its body is spooled.
FIRST_STEP = "store"
#: The type that writes a finished batch's records when no item waits for them.
STORE_RECORDS = "store_records"

TASKS: dict[str, TaskType] = {
    task.name: task
    for task in (
        TaskType(
            "store",
            work.store,
            next_step=after_store,
            record_fields=("path", "checksum", "size", "mime_type"),
            spooled=True,
        ),
        TaskType("thumbnail", work.thumbnail, next_step=then("upload"), record_fields=("thumbnail",)),
        TaskType(
            "extract_text",
            work.extract_text,
            next_step=then("upload"),
            record_fields=("text_path", "text_length", "text_excerpt"),
        ),
        TaskType("upload", work.upload, record_fields=("stored",)),
        TaskType(STORE_RECORDS, work.store_records, ends=BATCH, retried_next_run=True, priority_offset=-5),
    )
}


def record_fields() -> tuple[str, ...]:
    """A file's result record, in the order the feed shows it (read from the table each time)."""
    return ("url", *(name for task in TASKS.values() for name in task.record_fields), "status", "reason")


def record_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The record fields of a task's payload (a file's record so far)."""
    return {name: payload[name] for name in record_fields() if name in payload}
