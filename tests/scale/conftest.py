"""Fixtures for the scale-out tests: a moto S3 server, blob stores of both kinds."""

from __future__ import annotations

import pytest

from store.blobs import FileBlobStore
from tests.scale.pg import pg_database
from tests.scale.s3server import MotoS3, moto_problem


@pytest.fixture(scope="session")
def moto_s3():
    problem = moto_problem()
    if problem:
        pytest.skip(problem)
    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
async def s3_bucket(moto_s3):
    return await moto_s3.new_bucket()


@pytest.fixture(params=["file", "s3"])
async def blob_store(request, tmp_path):
    """The same contract, run against each blob store."""
    if request.param == "file":
        yield FileBlobStore(tmp_path / "blobs")
        return
    moto = request.getfixturevalue("moto_s3")
    store = moto.store(await moto.new_bucket())
    yield store
    await store.close()


@pytest.fixture
def pg_url():
    """PostgreSQL only: what these tests prove (SKIP LOCKED, advisory locks) is its own."""
    yield from pg_database()
