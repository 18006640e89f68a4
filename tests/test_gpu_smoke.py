"""bench/gpu_smoke.py, the prepared GPU smoke script, runs end to end on CPU where only what a
lent GPU machine has can be imported (tests/gpu_image.py): the image's packages, the carried
wheels of bench/gpu_wheels.txt and the standard library."""

import re
import subprocess

import pytest

import gpu_image


def run_smoke(python, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "bench/gpu_smoke.py", "--device", "cpu", *args], cwd=gpu_image.REPO, env=gpu_image.environment(),
        capture_output=True, text=True, timeout=300,
    )


def failure(done: subprocess.CompletedProcess) -> str:
    """Why the smoke failed; first, a module the machine would not have."""
    absent = re.search(r"No module named '([\w.]+)'", done.stderr)
    if absent:
        return (f"bench/gpu_smoke.py imports {absent.group(1)}, which is neither on the GPU machine's image (bench/gpu_image.txt) "
                f"nor among the carried wheels (bench/gpu_wheels.txt)\n{done.stderr[-2000:]}")
    return done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def image_python(tmp_path_factory):
    return gpu_image.build(tmp_path_factory.mktemp("gpu-image"))


def test_the_gpu_smoke_launches_its_sft_stage_generates_with_the_adapter_and_runs_a_vac_iteration_on_the_gpu_image(image_python):
    done = run_smoke(image_python, "--quick")
    assert done.returncode == 0, failure(done)
    lines = done.stdout.splitlines()
    stack = next(line for line in lines if line.startswith("== versions: "))
    versions = dict(part.split(" ") for part in stack.removeprefix("== versions: ").split(", "))
    assert (versions["transformers"], versions["huggingface_hub"]) == ("5.17.0", "1.33.0")  # the image's, not this environment's
    assert any(line.startswith("SFT stage (accelerate launch, 1 process) finished: 4 steps") for line in lines), done.stdout
    generated = {line.split()[0] + " " + line.split()[1]: line.split() for line in lines if line.startswith(("base model ", "LoRA adapter "))}
    assert set(generated) == {"base model", "LoRA adapter"} and all(float(row[-1].replace(",", "")) > 0 for row in generated.values()), done.stdout
    assert any(line.startswith("VAC iteration finished in ") and "validation [" in line for line in lines), done.stdout
    assert "   peak GPU memory (this process; the launched stage's is its own): n/a" in lines
    rss = next(line for line in lines if line.startswith("   peak resident memory: "))
    assert [float(n.replace(",", "")) > 0 for n in re.findall(r"([\d,.]+) MiB", rss)] == [True, True], rss


def test_an_import_the_gpu_machine_could_not_satisfy_fails_the_smoke_naming_the_module(image_python, tmp_path):
    refused = subprocess.run([str(image_python), "-c", "import sqlalchemy"], env=gpu_image.environment(), capture_output=True, text=True)
    assert "No module named 'sqlalchemy'" in refused.stderr  # installed here for the service, not on the image

    without_json5 = gpu_image.build(tmp_path / "no-json5", leave_out=frozenset({"json5"}))
    done = run_smoke(without_json5, "--quick")
    assert done.returncode != 0
    assert failure(done).startswith("bench/gpu_smoke.py imports json5, which is neither on the GPU machine's image")
