"""Measure a process and everything it started: CPU time and peak memory (PSS where available)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory_bytes(root: psutil.Process) -> tuple[int, str]:
    """Sum of PSS over the tree (RSS where PSS cannot be read), and which one it is."""
    total, kind = 0, "pss"
    for process in tree(root):
        try:
            info = process.memory_full_info()
            total += getattr(info, "pss", 0) or info.rss
            if not getattr(info, "pss", 0):
                kind = "rss"
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total, kind


@dataclass
class TreeUsage:
    peak_memory_bytes: int = 0
    memory_kind: str = "pss"
    cpu_seconds: float = 0.0


class TreeSampler:
    """Sample a process tree every ``interval`` seconds from a thread (the benchmark's, not the crawl's).

    CPU time is summed per pid at its last sighting, so children that exit
    before the end still count up to their last sample.
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.usage = TreeUsage()
        self._cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        memory, kind = tree_memory_bytes(self.root)
        if memory > self.usage.peak_memory_bytes:
            self.usage.peak_memory_bytes, self.usage.memory_kind = memory, kind
        for process in tree(self.root):
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self._cpu_by_pid[process.pid] = times.user + times.system
        self.usage.cpu_seconds = sum(self._cpu_by_pid.values())
