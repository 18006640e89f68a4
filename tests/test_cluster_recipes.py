"""The cluster recipes (configs/cluster/) cannot contradict their server scripts.

Each ``<recipe>-servers.sh`` is run with bash as a user runs it, but with a recording
``vllm`` first on PATH (it writes its arguments, CUDA_VISIBLE_DEVICES and VLLM_* variables
to a file, then exits) and LOGS in a temporary folder: what the script's loops and
arithmetic start is read as started, never parsed by hand. The script's last job is to
print the trainer's command, which is read from its output. Then, for the recipe and each
of its variants:

- every process (each server, and the trainer) carries its CUDA_VISIBLE_DEVICES; the sets
  lie within the node's GPUs (the ``<N>gpu`` of the recipe's name) and are disjoint; a
  server has tensor x pipeline parallel GPUs; each training stage's ranks get the trainer's
  GPUs, one process each: tailor's launch command goes through accelerate's own
  ``accelerate launch`` up to where torch.distributed.run would start the ranks, so an
  accelerate config's ``gpu_ids`` or ``num_processes`` that overrides them is caught;
- every ``base_url`` on this node has a server on its port serving the role's model, and
  every server serves a role;
- a server that serves a role the recipe trains (its requests name the role's LoRA
  adapters) runs with ``--enable-lora``, VLLM_ALLOW_RUNTIME_LORA_UPDATING on (read as
  vLLM reads it: "1" or "true", any case, vllm/envs.py at vLLM 0.10), ``--max-lora-rank``
  >= ``sft.lora_r``, ``--max-cpu-loras`` >= the openai backend's ``max_adapters`` (with
  fewer, vLLM evicts adapters tailor still counts as loaded), and ``--max-loras`` >= the
  adapters in use at once (one per trained role it serves);
- ``--max-model-len`` (or an in-process engine's ``max_model_len``) holds, for every kind
  of request its roles make, the request's prompt budget plus its ``max_tokens``.

The prompt budget, defined from what a recipe states. The input budget
``I = sft.max_length - max over the trained requests of (quoted outputs + max_tokens)``:
``sft.max_length`` bounds every training row (longer rows are left out), and a trained
request's row is its prompt plus its reply, so ``I`` is the room left in a row for all
that is not a model's output: the instructions and the example's own text (question,
retrieved items, narrative, reference, rubric aspect). REST-PG: 6656 - 1536 = 5120, the
paper's input limit; VAC: 8192 - (2048 answer + 1024 feedback) = 5120, as the feedback
model's rows hold an answer and its feedback. A request's prompt budget is ``I`` plus the
``max_tokens`` of every model output its prompt quotes (the answer a feedback, a revision
or a judgment reads; the feedback a revision applies). A server that holds every budget
answers every request whose own text keeps within ``I``, outputs quoted at full length."""

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from inspect import signature
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import pytest
from accelerate.commands.launch import launch_command as accelerate_launch
from accelerate.commands.launch import launch_command_parser

from tailor.llm import LLMConfig
from tailor.llm.backends.openai_compat import OpenAIBackend, server_urls
from tailor.llm.backends.vllm import VLLMBackend
from tailor.metrics import metric_info
from tailor.metrics.aspect import JudgeSettings
from tailor.metrics.similarity import SimilarityJudge
from tailor.train.launch import launch_command, needs_launch
from tailor.train.lora import SFTSettings
from tailor.train.trainers import TRAINERS

ROOT = Path(__file__).parents[1]
CLUSTER = ROOT / "configs" / "cluster"
RECIPES = sorted(CLUSTER.glob("*.yaml"))
KINDS = {"vac-": "vac", "restpg-": "rest-pg", "rest-em-": "rest-em"}  # recipe name prefix -> tailor train <kind>
LOCAL_HOSTS = {"localhost", "127.0.0.1"}

RECORDING_VLLM = """#!{python} -I
import json, os, sys, uuid
env = {{k: v for k, v in os.environ.items() if k == "CUDA_VISIBLE_DEVICES" or k.startswith("VLLM_")}}
with open(os.path.join({records!r}, uuid.uuid4().hex + ".json"), "w") as out:
    json.dump({{"argv": sys.argv[1:], "env": env}}, out)
"""


@dataclass(frozen=True)
class Request:
    """A kind of request a loop makes: the role answering it, the ``max_tokens`` of the model
    outputs its prompt quotes, its own ``max_tokens``, and whether prompt and reply make a
    training row."""

    what: str
    role: str
    quotes: tuple[int, ...]
    max_tokens: int
    trained: bool

    def need(self, input_budget: int) -> int:
        return input_budget + sum(self.quotes) + self.max_tokens


def judge_max_tokens(config) -> int:
    """The longest judgment of the recipe's judge metric: the similarity judge reads one token, the others as their settings say."""
    return SimilarityJudge.params.max_tokens if config.metric == "similarity" else JudgeSettings(**config.metric_options).max_tokens


def requests_of(kind: str, config) -> tuple[list[Request], dict[str, LLMConfig]]:
    """The requests of a VAC or ReST-EM/REST-PG run (tailor/train/vac.py, rest_em.py), and the model of each role."""
    answer = config.answer_max_tokens
    made = [Request("answer", "policy", (), answer, True)]
    models = {"policy": config.policy}
    if kind == "vac":
        feedback = config.feedback_max_tokens
        made += [Request("revision", "policy", (answer, feedback), answer, False),
                 Request("feedback", "feedback", (answer,), feedback, config.train_feedback)]
        models["feedback"] = config.feedback_llm
    elif config.warmup == "reasoning":
        made.append(Request("reasoning", "reasoner", (), config.reasoning_max_tokens, False))
        models["reasoner"] = config.reasoner_llm
    if config.judge is not None and metric_info(config.metric).judge:
        made.append(Request("judgment", "judge", (answer,), judge_max_tokens(config), False))
        models["judge"] = config.judge
    return made, models


def input_budget(requests: list[Request], max_length: int) -> int:
    return max_length - max(sum(r.quotes) + r.max_tokens for r in requests if r.trained)


@dataclass
class Process:
    """A process a recipe runs: a vLLM server (its flags and VLLM_* environment), the trainer,
    or an in-process engine (its settings spelt as the server flags they are)."""

    name: str
    gpus: str | None  # CUDA_VISIBLE_DEVICES as given; None: not set
    options: dict[str, list[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    model: str = ""

    def option(self, name: str) -> int | None:
        values = self.options.get(name)
        return int(values[0]) if values else None

    @property
    def served(self) -> list[str]:
        return self.options.get("--served-model-name") or [self.model]


def options_of(argv: list[str]) -> dict[str, list[str]]:
    """``--flag value...`` and ``--flag=value`` as {flag: values}; a switch has none."""
    aliases = {"-tp": "--tensor-parallel-size", "-pp": "--pipeline-parallel-size"}
    options: dict[str, list[str]] = {}
    flag = None
    for token in argv:
        if token.startswith("-"):
            flag, _, value = token.partition("=")
            flag = aliases.get(flag, flag)
            options[flag] = [value] if value else []
        elif flag is None:
            raise ValueError(f"argument {token!r} before any option")
        else:
            options[flag].append(token)
    return options


def run_script(script: Path, tmp: Path) -> tuple[list[Process], str]:
    """The vLLM servers ``script`` starts, and what it prints."""
    shims, records = tmp / "bin", tmp / "records"
    shims.mkdir()
    records.mkdir()
    vllm = shims / "vllm"
    vllm.write_text(RECORDING_VLLM.format(python=sys.executable, records=str(records)))
    vllm.chmod(0o755)
    env = {"PATH": f"{shims}:/usr/bin:/bin", "LOGS": str(tmp / "logs"), "HOME": str(tmp)}
    done = subprocess.run(["bash", "-c", 'source "$0"; wait', str(script)], cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{script.name} failed: {done.stderr}"
    servers = []
    for path in sorted(records.iterdir()):
        record = json.loads(path.read_text())
        argv = record["argv"]
        served = argv[:1] == ["serve"] and len(argv) > 1 and not argv[1].startswith("-")
        assert served, f"{script.name} runs vllm {shlex.join(argv)}: expected vllm serve MODEL ..."
        options = options_of(argv[2:])
        port = options.get("--port", ["(no --port)"])[0]
        servers.append(Process(f"the server on port {port}", record["env"].get("CUDA_VISIBLE_DEVICES"), options, record["env"], argv[1]))
    return servers, done.stdout


def trainer_command(output: str) -> list[str] | None:
    """The one printed line that runs ``tailor train``, split as the shell would."""
    lines = [shlex.split(line) for line in output.splitlines() if re.search(r"(^|\s)tailor train\s", line)]
    return lines[0] if len(lines) == 1 else None


def gpu_problems(processes: list[Process], node_gpus: int) -> list[str]:
    """Processes without their GPUs, or with GPUs outside the node or another's."""
    problems, owner = [], {}
    for process in processes:
        if not process.gpus:
            problems.append(f"{process.name} carries no CUDA_VISIBLE_DEVICES")
            continue
        for gpu in process.gpus.split(","):
            if not gpu.strip().isdigit() or int(gpu) >= node_gpus:
                problems.append(f"{process.name}: GPU {gpu} is not one of the node's GPUs 0-{node_gpus - 1}")
            elif int(gpu) in owner:
                problems.append(f"{process.name} and {owner[int(gpu)]} share GPU {gpu}")
            else:
                owner[int(gpu)] = process.name
    return problems


@dataclass
class Served:
    """What one server (a port, or an in-process engine) serves: each role's model and requests."""

    models: dict[str, LLMConfig] = field(default_factory=dict)
    requests: dict[str, list[Request]] = field(default_factory=dict)


def server_problems(server: Process, served: Served, trained: set[str], config, budget: int, in_process: bool = False) -> list[str]:
    """What ``server`` lacks for the roles it serves. An in-process engine is built by
    tailor with LoRA enabled and given one adapter per call (tailor/llm/backends/vllm.py),
    so only its rank and context length are the recipe's."""
    problems = []

    def at_least(flag: str, wanted: int, why: str) -> None:
        value = server.option(flag)
        if value is None or value < wanted:
            problems.append(f"{server.name}: {flag} {'(not set)' if value is None else value} is below {wanted}, {why}")

    for role, requests in served.requests.items():
        for r in requests:
            at_least("--max-model-len", r.need(budget), f"the {role}'s {r.what} prompt budget {budget + sum(r.quotes)} + max_tokens {r.max_tokens}")
    adapters = sorted(trained & set(served.models))
    if adapters:
        at_least("--max-lora-rank", config.sft.lora_r, "the recipe's LoRA rank (sft.lora_r)")
    if in_process:
        return problems
    tp, pp = server.option("--tensor-parallel-size") or 1, server.option("--pipeline-parallel-size") or 1
    if server.gpus and len(server.gpus.split(",")) != tp * pp:
        problems.append(f"{server.name}: {len(server.gpus.split(','))} GPUs for tensor x pipeline parallel {tp} x {pp}")
    if adapters:
        if "--enable-lora" not in server.options:
            problems.append(f"{server.name} serves the trained {', '.join(adapters)} without --enable-lora")
        if server.env.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "0").strip().lower() not in ("1", "true"):
            problems.append(f"{server.name} serves the trained {', '.join(adapters)} without VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")
        at_least("--max-loras", len(adapters), f"the adapters in use at once ({', '.join(adapters)})")
        backends = {served.models[role].model_dump_json(): served.models[role].options for role in adapters}  # one per distinct model config
        kept = sum(options.get("max_adapters", signature(OpenAIBackend).parameters["max_adapters"].default) for options in backends.values())
        at_least("--max-cpu-loras", kept, f"the adapters the openai backend keeps registered on it (max_adapters of the {', '.join(adapters)})")
    return problems


def in_process_engine(roles: list[str], llm: LLMConfig) -> Process:
    """An in-process vLLM engine, its settings spelt as the server flags they are."""
    rank = llm.options.get("max_lora_rank", signature(VLLMBackend).parameters["max_lora_rank"].default)
    length = llm.options.get("max_model_len")
    return Process(f"the in-process engine of the {', '.join(roles)}", None, {
        "--max-model-len": [] if length is None else [str(length)], "--max-lora-rank": [str(rank)],
    })


def launched(script: Path, recipe: Path, kind: str, node_gpus: int, tmp: Path) -> tuple[list[Process], Process | None, list[str]]:
    """The servers ``script`` starts, the trainer command it prints, and what is wrong with their GPUs or the command."""
    servers, output = run_script(script, tmp)
    command = trainer_command(output)
    expected = ["tailor", "train", kind, "--config", f"configs/cluster/{recipe.name}"]
    problems, trainer = [], None
    if command is None:
        problems.append(f"{script.name} prints no single command '{shlex.join(expected)}'; it printed:\n{output}")
    else:
        at = command.index("tailor")
        if command[at:] != expected:
            problems.append(f"{script.name} prints '{shlex.join(command)}' for '{shlex.join(expected)}'")
        trainer = Process("the trainer's command", dict(word.split("=", 1) for word in command[:at]).get("CUDA_VISIBLE_DEVICES"))
    return servers, trainer, problems + gpu_problems([*servers, *([trainer] if trainer else [])], node_gpus)


def placed(requests: list[Request], models: dict[str, LLMConfig], servers: list[Process]) -> tuple[dict[str, Served], list[Served], list[str]]:
    """Where each role's requests go: servers on this node by port, in-process engines; and
    base_urls that no server answers with the role's model. A base_url on another machine
    is no script's here to start."""
    on_port: dict[str, Served] = {}
    in_process: dict[str, Served] = {}
    problems = []
    for role, llm in models.items():
        where: list[Served] = []
        if llm.backend == "vllm":
            where.append(in_process.setdefault(llm.model_dump_json(), Served()))
        for url in server_urls(llm.options.get("base_url")) if llm.backend == "openai" else []:
            address = urlparse(url or "")
            if address.hostname not in LOCAL_HOSTS:
                continue
            matching = [s for s in servers if s.options.get("--port") == [str(address.port)]]
            if len(matching) != 1:
                problems.append(f"the {role}'s base_url {url} has {len(matching)} servers on its port")
            elif llm.model not in matching[0].served:
                problems.append(f"{matching[0].name} does not serve the {role}'s model {llm.model} (it serves {', '.join(matching[0].served)})")
            else:
                where.append(on_port.setdefault(str(address.port), Served()))
        for served in where:
            served.models[role] = llm
            served.requests[role] = [r for r in requests if r.role == role]
    return on_port, list(in_process.values()), problems


def run_problems(kind: str, config, servers: list[Process], trainer: Process | None) -> list[str]:
    """How one run of a recipe (the main run or a variant) contradicts the processes started for it."""
    requests, models = requests_of(kind, config)
    budget = input_budget(requests, config.sft.max_length)
    trained = {r.role for r in requests if r.trained}
    on_port, in_process, problems = placed(requests, models, servers)
    for server in servers:
        port = server.options.get("--port", [""])[0]
        if port in on_port:
            problems += server_problems(server, on_port[port], trained, config, budget)
        else:
            problems.append(f"{server.name} serves no role")
    for served in in_process:
        engine = in_process_engine(list(served.models), next(iter(served.models.values())))
        problems += server_problems(engine, served, trained, config, budget, in_process=True)
    if trainer is not None and trainer.gpus:
        gpus, processes = ranks_of(config.sft, trainer.gpus)
        if gpus != trainer.gpus:
            problems.append(f"accelerate launch gives the training ranks CUDA_VISIBLE_DEVICES {gpus}, not the trainer's {trainer.gpus}")
        if processes != len(trainer.gpus.split(",")):
            problems.append(f"{trainer.name} has {len(trainer.gpus.split(','))} GPUs for {processes} training processes (sft.num_processes)")
    return problems


def ranks_of(settings: SFTSettings, trainer_gpus: str) -> tuple[str | None, int]:
    """The CUDA_VISIBLE_DEVICES and the number of a training stage's processes when the trainer
    runs with ``trainer_gpus``: tailor's launch command run through accelerate's own
    ``accelerate launch`` (commands/launch.py, accelerate 1.15), stopped where
    torch.distributed.run would start the processes. A stage tailor does not launch trains
    in the trainer's process."""
    if not needs_launch(settings):
        return trainer_gpus, 1
    if settings.accelerate_config:
        settings = settings.model_copy(update={"accelerate_config": str(ROOT / settings.accelerate_config)})
    argv = launch_command(settings, ROOT / "job.json")
    assert argv[1:3] == ["-m", "accelerate.commands.launch"], argv
    started = {}

    def start(args) -> None:
        started.update(gpus=os.environ.get("CUDA_VISIBLE_DEVICES"), processes=int(args.nproc_per_node))

    with mock.patch.dict(os.environ, {"CUDA_VISIBLE_DEVICES": trainer_gpus}), mock.patch("torch.distributed.run.run", start):
        accelerate_launch(launch_command_parser().parse_args(argv[3:]))
    return started["gpus"], started["processes"]


def recipe_problems(recipe: Path, script: Path | None, tmp: Path) -> list[str]:
    """Every way ``recipe`` (each of its runs) and its server ``script`` contradict each other (none: they agree)."""
    kind = next((k for prefix, k in KINDS.items() if recipe.name.startswith(prefix)), None)
    node = re.search(r"-(\d+)gpu$", recipe.stem)
    if kind is None or node is None:
        return [f"{recipe.name}: name it <{'|'.join(KINDS)}>...-<N>gpu.yaml (its trainer and the node's GPUs)"]
    servers, trainer, problems = launched(script, recipe, kind, int(node.group(1)), tmp) if script else ([], None, [])
    for name, config in TRAINERS[kind].trainer.config_class.from_yaml(recipe).runs():
        problems += [f"{name}: {problem}" for problem in run_problems(kind, config, servers, trainer)]
    return list(dict.fromkeys(problems))


def script_of(recipe: Path) -> Path | None:
    script = recipe.with_name(f"{recipe.stem}-servers.sh")
    return script if script.exists() else None


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_each_cluster_recipe_agrees_with_its_servers_and_trainer(recipe, tmp_path):
    problems = recipe_problems(recipe, script_of(recipe), tmp_path)
    assert not problems, "\n".join(problems)


def test_every_server_script_has_its_recipe():
    scripts = sorted(CLUSTER.glob("*.sh"))
    assert scripts and all(s.name.endswith("-servers.sh") and s.with_name(s.name.replace("-servers.sh", ".yaml")).exists() for s in scripts)


def test_the_input_budget_of_rest_pg_is_the_papers_input_limit():
    """REST-PG's paper limits the input to 5,120 tokens and the output to 1,536 (its section 5)."""
    config = TRAINERS["rest-pg"].trainer.config_class.from_yaml(CLUSTER / "restpg-8gpu.yaml")
    assert input_budget(requests_of("rest-pg", config)[0], config.sft.max_length) == 5120


VAC, RESTPG = "vac-8gpu", "restpg-8gpu"
MUTANTS = [  # (recipe, file changed, text, replacement, the problem expected)
    (VAC, "servers.sh", "CUDA_VISIBLE_DEVICES=0,1 ", "CUDA_VISIBLE_DEVICES=1,2 ", "share GPU 2"),
    (VAC, "servers.sh", "CUDA_VISIBLE_DEVICES=0,1 ", "", "the server on port 8100 carries no CUDA_VISIBLE_DEVICES"),
    (VAC, "servers.sh", "CUDA_VISIBLE_DEVICES=$TRAINER_GPUS tailor", "tailor", "the trainer's command carries no CUDA_VISIBLE_DEVICES"),
    (VAC, "servers.sh", "TRAINER_GPUS=4,5,6,7", "TRAINER_GPUS=5,6,7,8", "GPU 8 is not one of the node's GPUs 0-7"),
    (VAC, "servers.sh", "TRAINER_GPUS=4,5,6,7", "TRAINER_GPUS=4,5,6", "the trainer's command has 3 GPUs for 4 training processes"),
    (VAC, "servers.sh", "for i in 0 1; do", "for i in 0 1 2; do", "main: the server on port 8002 serves no role"),
    (VAC, "servers.sh", "--tensor-parallel-size 2", "--tensor-parallel-size 4", "2 GPUs for tensor x pipeline parallel 4 x 1"),
    (VAC, "servers.sh", "--port $((8000 + i))", "--port $((8010 + i))", "base_url http://localhost:8000/v1 has 0 servers on its port"),
    (VAC, "servers.sh", "Qwen2.5-7B-Instruct --port", "Qwen2.5-3B-Instruct --port", "does not serve the policy's model Qwen/Qwen2.5-7B-Instruct"),
    (VAC, "servers.sh", "--max-lora-rank 16", "--max-lora-rank 8", "--max-lora-rank 8 is below 16"),
    (VAC, "servers.sh", "--max-cpu-loras 4", "--max-cpu-loras 1", "--max-cpu-loras 1 is below 2, the adapters the openai backend keeps registered"),
    (VAC, "servers.sh", "--max-loras 2", "--max-loras 1", "--max-loras 1 is below 2, the adapters in use at once (feedback, policy)"),
    (VAC, "servers.sh", "--enable-lora ", "", "without --enable-lora"),
    (VAC, "servers.sh", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=False", "without VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"),
    (VAC, "servers.sh", "--max-model-len 10240", "--max-model-len 8192", "--max-model-len 8192 is below 10240, the policy's revision prompt budget 8192"),
    (RESTPG, "yaml", "sft:\n", "sft:\n  lora_r: 32\n", "--max-lora-rank 16 is below 32"),
    (RESTPG, "yaml", "seed: 0", "seed: 0\nvariants: {long: {reasoning_max_tokens: 4096}}",
     "long: the server on port 8100: --max-model-len 8192 is below 9216, the reasoner's reasoning prompt budget 5120 + max_tokens 4096"),
    ("vac-1gpu", "yaml", "max_model_len: 10240", "max_model_len: 8192", "the in-process engine of the policy, feedback: --max-model-len 8192 is below 10240"),
]


@pytest.mark.parametrize("recipe, changed, text, replacement, expected", MUTANTS, ids=[m[4][:48] for m in MUTANTS])
def test_a_contradiction_is_caught(recipe, changed, text, replacement, expected, tmp_path):
    """Each change to a shipped recipe or script that makes them contradict is reported."""
    files = {"yaml": CLUSTER / f"{recipe}.yaml", "servers.sh": CLUSTER / f"{recipe}-servers.sh"}
    original = files[changed].read_text()
    assert text in original, f"{files[changed].name} no longer holds {text!r}"
    mutated = tmp_path / "mutated" / files[changed].name
    mutated.parent.mkdir()
    mutated.write_text(original.replace(text, replacement))
    files[changed] = mutated
    script = files["servers.sh"] if files["servers.sh"].exists() else None
    (tmp_path / "run").mkdir()
    problems = recipe_problems(files["yaml"], script, tmp_path / "run")
    assert any(expected in p for p in problems), "\n".join(problems)


def test_an_accelerate_config_that_pins_gpus_is_caught(tmp_path):
    """accelerate sets the ranks' CUDA_VISIBLE_DEVICES from a config's gpu_ids (accelerate 1.15,
    utils/launch.py), which would override the GPUs the trainer's command gives them."""
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text((ROOT / "configs/accelerate/ddp.yaml").read_text().replace("gpu_ids: all", "gpu_ids: 0,1,2,3"))
    recipe = tmp_path / "recipe" / "vac-8gpu.yaml"
    recipe.parent.mkdir()
    recipe.write_text((CLUSTER / "vac-8gpu.yaml").read_text().replace("configs/accelerate/ddp.yaml", str(pinned)))
    (tmp_path / "run").mkdir()
    problems = recipe_problems(recipe, CLUSTER / "vac-8gpu-servers.sh", tmp_path / "run")
    assert problems == ["main: accelerate launch gives the training ranks CUDA_VISIBLE_DEVICES 0,1,2,3, not the trainer's 4,5,6,7"]


def test_the_trainer_commands_in_the_docs_are_the_scripts(tmp_path):
    """docs/scaling.md shows the trainer's command each script prints, CUDA_VISIBLE_DEVICES included."""
    shown = [line.strip() for line in (ROOT / "docs" / "scaling.md").read_text().splitlines() if re.search(r"tailor train .*configs/cluster/", line)]
    assert shown
    for n, line in enumerate(shown):
        recipe = CLUSTER / re.search(r"configs/cluster/(\S+\.yaml)", line).group(1)
        (tmp_path / str(n)).mkdir()
        printed = trainer_command(run_script(script_of(recipe), tmp_path / str(n))[1])
        assert shlex.split(line.split("#")[0]) == printed
