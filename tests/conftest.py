from __future__ import annotations

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
DUKASCOPY = FIXTURES / "dukascopy"
#: Folders whose modules run one after another in one pytest-xdist worker, never two at once: their
#: local clusters take fixed worker-port ranges (hft.localcluster `--min-worker-port`).
SERIAL_FOLDERS = ("tests/cluster/",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` (pyproject's addopts) with a module as the unit of work, so module-scoped
    fixtures (a local Ray, a cluster, a demo run) start once; `SERIAL_FOLDERS` are one unit each."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return next((f for f in SERIAL_FOLDERS if module.startswith(f)), module)

    return ModuleScheduling(config, log)


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_connected(request):
    """A module that leaves this process connected to Ray makes the next module's result depend on
    run order: fail that module loudly and disconnect, so the next one starts clean."""
    yield
    ray = sys.modules.get("ray")  # never import Ray just to check it
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        pytest.fail(
            f"{request.module.__name__} left this process connected to Ray; start Ray in a fixture through "
            "hft.rayenv.ray_session so the module shuts down what it started"
        )


@pytest.fixture(scope="session")
def dukascopy_dir() -> Path:
    """Real Dukascopy hour files in the feed's own layout (copied from ../shared/data/dukascopy)."""
    return DUKASCOPY


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3-protocol server (moto) on 127.0.0.1 for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(moto_endpoint, request):
    """(url, storage_options) of a fresh bucket on the moto server."""
    import uuid

    import boto3

    opts = {"endpoint_url": moto_endpoint, "key": "testing", "secret": "testing"}
    bucket = f"hft-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/store", opts


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    """The same contract tests run against a local folder and against S3 (moto)."""
    if request.param == "local":
        return str(tmp_path / "store"), {}
    return request.getfixturevalue("s3_store")
