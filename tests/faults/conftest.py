"""What the fault tests share: a throwaway PostgreSQL cluster they may stop, crash and restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgcluster import PgCluster, cluster_or_skip


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    made = cluster_or_skip()
    try:
        made.start()
        yield made
    finally:
        made.cleanup()
