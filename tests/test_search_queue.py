"""The search queue on a real redis-server (looqta/search/queue.py): priority, atomic takes, leases."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from looqta.search import contract, queue
from looqta.search.contract import SearchJob, StreamEntry
from looqta.search.queue import SiteQueue

if TYPE_CHECKING:
    import redis


def jobs(n: int, kind: str, site: str = "amazon") -> list[SearchJob]:
    return [SearchJob.new(f"{kind} {i}", site, kind=kind) for i in range(n)]


def test_manual_jobs_are_taken_before_bulk_ones_pushed_earlier(redis_client: redis.Redis) -> None:
    bulk, manual = jobs(3, "bulk"), jobs(2, "manual")
    for job in (*bulk, *manual):
        queue.push(redis_client, job)
    crawler = SiteQueue(redis_client, "amazon", "c1", lease_seconds=10)
    taken = [SearchJob.decode(crawler.take(manual=True, bulk=True)) for _ in range(5)]
    assert taken == [*manual, *bulk]
    assert crawler.take(manual=True, bulk=True) is None
    assert len(redis_client.lrange(crawler.processing, 0, -1)) == 5


def test_a_crawler_full_of_bulk_work_takes_only_manual_jobs(redis_client: redis.Redis) -> None:
    queue.push(redis_client, jobs(1, "bulk")[0])
    crawler = SiteQueue(redis_client, "amazon", "c1", lease_seconds=10)
    assert crawler.take(manual=True, bulk=False) is None
    [manual] = jobs(1, "manual")
    queue.push(redis_client, manual)
    assert SearchJob.decode(crawler.take(manual=True, bulk=False)) == manual


def test_two_crawlers_taking_at_once_never_take_one_job_twice(redis_client: redis.Redis) -> None:
    pushed = jobs(200, "manual") + jobs(200, "bulk")
    for job in pushed:
        queue.push(redis_client, job)
    taken: dict[str, list[str]] = {"c1": [], "c2": []}

    def take_all(crawler_id: str) -> None:
        crawler = SiteQueue(redis_client, "amazon", crawler_id, lease_seconds=10)
        while (raw := crawler.take(manual=True, bulk=True)) is not None:
            taken[crawler_id].append(SearchJob.decode(raw).search_id)

    threads = [threading.Thread(target=take_all, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert taken["c1"]
    assert taken["c2"]
    assert not set(taken["c1"]) & set(taken["c2"])
    assert sorted(taken["c1"] + taken["c2"]) == sorted(job.search_id for job in pushed)


def test_a_dead_crawlers_jobs_go_back_to_the_head_of_their_queue(redis_client: redis.Redis) -> None:
    manual, bulk, later = jobs(2, "manual"), jobs(1, "bulk"), jobs(1, "manual")
    for job in (*manual, *bulk):
        queue.push(redis_client, job)
    dead = SiteQueue(redis_client, "amazon", "dead", lease_seconds=0.2)
    for _ in range(3):
        dead.take(manual=True, bulk=True)
    queue.push(redis_client, later[0])
    alive = SiteQueue(redis_client, "amazon", "alive", lease_seconds=10)
    assert alive.requeue_dead() == 0  # its lease still holds: its jobs are its own
    time.sleep(0.3)  # the lease runs out (no heartbeat: the process was killed)
    alive.heartbeat()
    assert alive.requeue_dead() == 3
    assert redis_client.llen(dead.processing) == 0
    assert not redis_client.sismember(contract.crawlers_key("amazon"), "dead")
    again = [SearchJob.decode(alive.take(manual=True, bulk=True)) for _ in range(4)]
    assert again == [manual[0].redelivered(), manual[1].redelivered(), later[0], bulk[0].redelivered()]


def test_finishing_writes_the_end_and_drops_the_job_in_one_step(redis_client: redis.Redis) -> None:
    job = jobs(1, "manual")[0]
    queue.push(redis_client, job)
    crawler = SiteQueue(redis_client, "amazon", "c1", lease_seconds=10)
    raw = crawler.take(manual=True, bulk=True)
    queue.append(redis_client, job.search_id, contract.site_started("amazon", 0, "c1"))
    crawler.finish(raw, job.search_id, contract.site_done("amazon", 0, 0.5))
    assert redis_client.llen(crawler.processing) == 0
    entries = [StreamEntry.from_fields(f) for _, f in queue.read(redis_client, job.search_id)]
    assert [e.event for e in entries] == ["site-started", "site-done"]
    assert 0 < redis_client.ttl(contract.stream_key(job.search_id)) <= contract.STREAM_TTL_SECONDS
    first_id = queue.read(redis_client, job.search_id)[0][0]
    assert [f["event"] for _, f in queue.read(redis_client, job.search_id, after=first_id)] == ["site-done"]


def test_a_crawler_stopping_cleanly_hands_its_own_jobs_back_at_once(redis_client: redis.Redis) -> None:
    [job] = jobs(1, "manual")
    queue.push(redis_client, job)
    crawler = SiteQueue(redis_client, "amazon", "c1", lease_seconds=10)
    crawler.take(manual=True, bulk=True)
    assert crawler.requeue_dead() == 0  # alive
    assert crawler.requeue_dead(including_self=True) == 1
    assert (
        SearchJob.decode(redis_client.lindex(contract.queue_key("amazon", "manual"), 0)) == job.redelivered()
    )
