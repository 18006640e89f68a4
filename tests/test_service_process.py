"""`tailor serve` as a process: a tenant created from the command line, and profile writes
the service acknowledged surviving a SIGKILL."""

import httpx
from test_service_openai import bench_module


def test_acknowledged_writes_survive_a_kill(tmp_path):
    bench = bench_module()
    db = str(tmp_path / "service.sqlite")
    key = bench.create_tenant(db, "acme")
    assert key.startswith("tailor_")
    headers = {"Authorization": f"Bearer {key}"}
    service = bench.ServiceProcess(db, tmp_path / "serve.log").start()
    try:
        assert httpx.put(f"{service.url}/v1/users/alice", headers=headers).status_code == 201
        written = []
        for n in range(20):
            item = {"id": f"post-{n}", "text": f"post number {n} about bees"}
            assert httpx.post(f"{service.url}/v1/users/alice/items", json={"items": [item]}, headers=headers).status_code == 201
            written.append(item["id"])
    finally:
        service.kill()
    assert service.process.returncode == -9
    restarted = bench.ServiceProcess(db, tmp_path / "serve.log").start()
    try:
        page = httpx.get(f"{restarted.url}/v1/users/alice/items", params={"limit": 100}, headers=headers).json()
    finally:
        restarted.stop()
    assert [item["id"] for item in page["items"]] == written
    assert page["items"][-1]["text"] == "post number 19 about bees"
