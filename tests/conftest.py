"""Every test gets its own LLMOS_HOME; real-model drivers are loaded once per session."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from llmos.drivers.models import ModelStore
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel

# Property tests are seeded: the same examples on every run and machine, no example database.
settings.register_profile(
    "llmos", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("llmos")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("LLMOS_HOME", str(h))
    monkeypatch.delenv("LLMOS_MODEL", raising=False)
    monkeypatch.delenv("LLMOS_AGENT_MODEL", raising=False)
    monkeypatch.delenv("LLMOS_GPU_LAYERS", raising=False)
    return h


@pytest.fixture
def scripted():
    return ScriptedDriver()


@pytest.fixture
def kernel(home, scripted):
    k = Kernel.boot(driver=scripted)
    yield k
    k.close()


@pytest.fixture(scope="session")
def model_store(tmp_path_factory):
    return ModelStore(tmp_path_factory.mktemp("models"))


def _open(store: ModelStore, spec: str):
    from llmos.drivers.loader import open_driver

    return open_driver(spec, store, n_ctx=4096, n_seq=2)


@pytest.fixture(scope="session")
def smollm(model_store):
    d = _open(model_store, "default")
    yield d
    d.close()


@pytest.fixture(scope="session")
def smollm_agent(model_store):
    """What processes' action loops decode with on `default`: llmos's own adapter folded in."""
    d = _open(model_store, model_store.agent_spec("default"))
    yield d
    d.close()


@pytest.fixture(scope="session")
def gemma(model_store):
    d = _open(model_store, "gemma-3-270m")
    yield d
    d.close()


@pytest.fixture(params=["smollm", "gemma"])
def real_driver(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def real_kernel(home, smollm):
    k = Kernel.boot(driver=smollm)
    yield k
    k.close()
