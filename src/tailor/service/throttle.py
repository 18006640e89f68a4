"""Per-tenant limits on answering (OWASP API4, unrestricted resource consumption): a rate of
answer requests (pyrate-limiter's sliding window) and a cap on a tenant's generations at
once (an answer from the user's cache takes no slot). Over either, the request is refused
at once with 429 and ``Retry-After``, so one tenant's flood queues nothing in front of
another tenant's questions."""

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pyrate_limiter import BucketFactory, Duration, InMemoryBucket, Limiter, Rate, RateItem


class TooManyRequests(Exception):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class PerTenantBuckets(BucketFactory):
    """pyrate-limiter's routing of a request to its own tenant's bucket (its default factory
    has one bucket for every name)."""

    def __init__(self, rate: Rate):
        self.rate, self.buckets = rate, {}
        self._lock = threading.Lock()

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, self.get_bucket(name).now(), weight=weight)

    def get(self, item: RateItem) -> InMemoryBucket:
        return self.get_bucket(item.name)

    def get_bucket(self, name: str) -> InMemoryBucket:
        with self._lock:
            if name not in self.buckets:
                self.buckets[name] = self.create(InMemoryBucket, [self.rate])
            return self.buckets[name]


class Throttle:
    def __init__(self, per_minute: int, concurrent: int):
        self.per_minute, self.concurrent = per_minute, concurrent
        self.limiter = Limiter(PerTenantBuckets(Rate(per_minute, Duration.MINUTE)))
        self._slots: dict[int, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def admit(self, tenant: int) -> None:
        """Count an answer request; ``TooManyRequests`` when the tenant is over its rate."""
        with self._lock:  # pyrate-limiter refuses a non-blocking acquire while another thread holds its lock
            admitted = self.limiter.try_acquire(f"tenant-{tenant}", blocking=False)
        if not admitted:
            raise TooManyRequests(f"over {self.per_minute} answer requests a minute for this tenant", math.ceil(60 / self.per_minute))

    @contextmanager
    def generating(self, tenant: int) -> Iterator[None]:
        """Hold one of the tenant's generation slots for the block; ``TooManyRequests`` when
        all are in use."""
        with self._lock:
            slots = self._slots.setdefault(tenant, threading.BoundedSemaphore(self.concurrent))
        if not slots.acquire(blocking=False):
            raise TooManyRequests(f"this tenant already has {self.concurrent} answers being generated", 1)
        try:
            yield
        finally:
            slots.release()
