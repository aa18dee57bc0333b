"""A moto S3 server on 127.0.0.1 (tests and benchmarks): start it, make buckets, stop it."""

from __future__ import annotations

import uuid

ACCESS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


def moto_problem() -> str | None:
    try:
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError as exc:
        return f"moto[server] is not installed: {exc}"
    try:
        import aiobotocore  # noqa: F401
    except ImportError:
        return "aiobotocore is not installed (pip install -e '.[s3]')"
    return None


class MotoS3:
    """moto's standalone server in a thread, bound to loopback on a free port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # moto's default address is 0.0.0.0: say 127.0.0.1, never anything else.
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.host = self.port = None

    def start(self) -> MotoS3:
        self.server.start()
        self.host, self.port = self.server.get_host_and_port()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings(self, bucket: str, prefix: str = "blobs") -> dict:
        """Settings overrides for intake.config.load_settings pointing at a bucket."""
        return {"blob_url": f"s3://{bucket}/{prefix}", "s3_endpoint_url": self.endpoint,
                "s3_region": ACCESS["region"], "s3_access_key_id": ACCESS["access_key_id"],
                "s3_secret_access_key": ACCESS["secret_access_key"]}

    def env(self, bucket: str, prefix: str = "blobs") -> dict[str, str]:
        return {f"INTAKE_{k.upper()}": str(v) for k, v in self.settings(bucket, prefix).items()}

    async def new_bucket(self) -> str:
        from aiobotocore.session import get_session

        name = f"intake-{uuid.uuid4().hex[:12]}"
        async with get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=ACCESS["region"],
            aws_access_key_id=ACCESS["access_key_id"],
            aws_secret_access_key=ACCESS["secret_access_key"],
        ) as s3:
            await s3.create_bucket(Bucket=name)
        return name

    def store(self, bucket: str, prefix: str = "blobs"):  # noqa: ANN201 - an S3BlobStore
        from store.s3 import S3BlobStore

        return S3BlobStore(f"s3://{bucket}/{prefix}", endpoint_url=self.endpoint, **ACCESS)
