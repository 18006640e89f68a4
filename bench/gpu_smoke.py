"""GPU smoke: tailor's training stack end to end on one CUDA GPU, offline, in a few minutes.
A tiny random Llama (2 layers, hidden 64) and a byte-level BPE tokenizer trained on
planted-preference data (tailor.data.planted, made here) are built in code in a temp folder;
then one LoRA SFT stage trains through `accelerate launch` (1 process, as a stage whose
settings name an ``accelerate_config`` is launched), the hf backend generates with and without
that adapter (tokens/s), and one VAC iteration (N=2, k=2, 32 tokens) runs on the planted data
with the planted metric, which needs no model of its own. Prints the library versions, the
timings, tokens/s and peak memory (GPU; resident memory of this process and of the launched
stage); writes bench/results/gpu_smoke.json. The model is random, so its text is noise: what
counts is that every stage finishes on the device (a reply that does not parse is counted).

A lent GPU machine's image has torch, transformers, accelerate, peft and most of what tailor
imports (bench/gpu_image.txt), not the wheels of bench/gpu_wheels.txt (TRL, datasets, pydantic,
json5, bm25s and what they need), and no network. Prepare the wheels here (4.6 MiB, into the
git-ignored .whl/), then run there through the device tool with ``carry: [".whl"]``:

    python bench/gpu_wheels.py prepare
    set -o pipefail; python3 bench/gpu_wheels.py install .whl /tmp/site && PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 python3 bench/gpu_smoke.py 2>&1 | tee $OUT/gpu_smoke.log; rc=$?; cp bench/results/gpu_smoke.json $OUT/; exit $rc

It has not run on a GPU yet: no GPU machine was lent to the session that prepared it.
`--device cpu` runs the same on CPU; tests/test_gpu_smoke.py runs it so, where only the image's
packages (transformers and huggingface_hub at the image's versions), the carried wheels and the
standard library can be imported. Nothing touches a shared cache: the model, the runs and the
response cache live in a temp folder removed at the end.
"""

import os
import resource
import tempfile
import time
from importlib import metadata
from pathlib import Path

# no network, and no loading bars between the tables; set before transformers is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

from common import greedy_workload, note, parse_args, table, threads, timed, write_result

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
STACK = ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "pydantic", "huggingface_hub")


def build_tiny_model(folder: Path, texts: list[str]) -> int:
    """A byte-level BPE tokenizer trained on ``texts``, with a ChatML template, and a random
    Llama on its vocabulary, saved to ``folder``; the parameter count."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE, model_max_length=4096,
    )
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, tie_word_embeddings=False,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def one_process_config(folder: Path, device: str) -> Path:
    """An accelerate config for one process on ``device``, as a recipe's ``accelerate_config``
    names one (configs/accelerate/ddp.yaml asks for several GPUs)."""
    path = folder / "accelerate-1-process.yaml"
    path.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\nnum_machines: 1\nmachine_rank: 0\n"
        f"mixed_precision: 'no'\nuse_cpu: {'true' if device == 'cpu' else 'false'}\n"
    )
    return path


def peak_rss_mib(who: int) -> float:
    """The peak resident memory of this process (RUSAGE_SELF) or of its largest finished child
    process (RUSAGE_CHILDREN), in MiB (Linux counts KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    args = parse_args(__doc__, device="cuda")
    if args.device not in ("cuda", "cpu"):
        raise SystemExit(f"--device must be cuda or cpu, not {args.device!r}")
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # training takes a GPU whenever it sees one
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device is visible to torch: run on a GPU machine, or pass --device cpu")
    started = time.perf_counter()
    torch.set_num_threads(threads())
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    versions = {name: metadata.version(name) for name in STACK}
    print("== versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))

    with tempfile.TemporaryDirectory(prefix="gpu_smoke.") as tmp:
        work = Path(tmp)
        os.environ["TAILOR_CACHE"] = str(work / "llm_cache.sqlite")  # read when a cache opens; none is shared
        from tailor.data import load_examples
        from tailor.data.planted import PlantedSpec, generate, write
        from tailor.llm.backends.hf import HFBackend
        from tailor.metrics.registry import make_metric
        from tailor.pool import ModelPool
        from tailor.runs import RunFolder
        from tailor.retrieval.bm25 import BM25Retriever
        from tailor.train.loop import LoopInputs
        from tailor.train.sft import SFTSettings, train_sft
        from tailor.train.vac import VACConfig, train_vac

        spec = PlantedSpec(seed=0, train_users=1 if args.quick else 2, validation_users=1, test_users=1, questions_per_user=2, filler_posts=1)
        data = write(generate(spec), work / "planted")
        train, valid = load_examples(data, split="train"), load_examples(data, split="validation")
        model_dir = work / "tiny-llama"
        texts = [t for e in train + valid for t in (e.question, e.narrative or "", e.reference or "", *(p.text for p in e.profile))]
        parameters = build_tiny_model(model_dir, texts)
        print(f"== GPU smoke on {device_name}: tiny random Llama, {parameters:,} parameters, in {model_dir}")

        # one LoRA SFT stage under `accelerate launch`: each planted question answered by its gold answer
        settings = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 4, "eval_steps": 4})
        launched = settings.model_copy(update={"accelerate_config": str(one_process_config(work, args.device))})
        rows = [{"messages": [{"role": "user", "content": e.question}, {"role": "assistant", "content": e.reference}]} for e in train + valid]
        sft, sft_seconds = timed(train_sft, str(model_dir), rows[:-1], rows[-1:], launched, work / "sft")
        if not (work / "sft" / "launch.log").is_file():
            raise SystemExit("the SFT stage ran in this process: a stage that names an accelerate_config is launched (tailor.train.launch)")
        print(f"\nSFT stage (accelerate launch, 1 process) finished: {sft.steps} steps on {sft.rows} rows, {sft.seconds:.1f} s of training "
              f"in {sft_seconds:.1f} s, eval loss {sft.best_eval_loss:.3f}")

        # generation: 16 RAG prompts x 32 greedy tokens, one batch, without and with the adapter
        llm = HFBackend(str(model_dir), cache=None, batch_size=16, device=args.device)
        requests, params = greedy_workload(16, 32)
        llm.generate(requests, params)  # loads the weights and runs the batch once, untimed
        generation = {}
        for name, adapter in (("base model", None), ("LoRA adapter", sft.adapter)):
            llm.generate(requests[:1], params, adapter=adapter)  # loads the adapter outside the timing
            completions, seconds = timed(llm.generate, requests, params, adapter=adapter)
            tokens = sum(s.tokens for c in completions for s in c.samples)
            generation[name] = {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}
        table("hf backend generation", ["weights", "prompts", "batch", "max tokens", "generated", "seconds", "tokens/s"],
              [[name, len(requests), llm.batch_size, params.max_tokens, g["tokens"], g["seconds"], g["tokens_per_s"]] for name, g in generation.items()])

        # one VAC iteration on the planted data, scored by the planted metric; its stages train in process
        tiny = settings.model_copy(update={"max_steps": 2, "eval_steps": 2})
        config = VACConfig(
            policy={"model": str(model_dir)}, metric="planted", iterations=1, n_feedback=2, k=2, feedback_max_tokens=32, answer_max_tokens=32,
            max_attempts=1, holdout=0.0, sft=tiny, run_dir=work / "vac",
        )
        pool = ModelPool(config.policy)
        pool.provide(config.policy, llm)  # the feedback model is the policy's model
        inputs = LoopInputs(train, valid, llm, make_metric("planted", None), BM25Retriever(), pool)
        vac, vac_seconds = timed(train_vac, config, inputs, trainer=train_sft)
        stages = {name: cost.document() for name, cost in RunFolder(work / "vac").history().stages.items()}
        table("VAC iteration stages", ["stage", "seconds", "unparsed"], [[name, s["seconds"], s["unparsed"]] for name, s in stages.items()])
        trained = [role for role, adapters in (("feedback model", vac.feedback_adapters), ("policy", vac.policy_adapters)) if adapters[0]]
        print(f"\nVAC iteration finished in {vac_seconds:.1f} s: validation {[round(v, 3) for v in vac.validation]}, trained: {', '.join(trained) or 'nothing (no reply parsed)'}")

    memory = {
        "gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None,
        "rss_mib": peak_rss_mib(resource.RUSAGE_SELF), "launched_stage_rss_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
    }
    total = time.perf_counter() - started
    gpu = f"{memory['gpu_mib']:,.0f} MiB" if memory["gpu_mib"] is not None else "n/a"
    note(f"peak GPU memory (this process; the launched stage's is its own): {gpu}")
    note(f"peak resident memory: this process {memory['rss_mib']:,.0f} MiB, the launched stage {memory['launched_stage_rss_mib']:,.0f} MiB")
    note(f"total: {total:.1f} s")
    write_result("gpu_smoke", {
        "quick": args.quick, "device": args.device, "device_name": device_name, "versions": versions, "parameters": parameters,
        "sft": {"launched": True, "steps": sft.steps, "rows": sft.rows, "training_seconds": sft.seconds, "seconds": sft_seconds, "eval_loss": sft.best_eval_loss},
        "generation": {"prompts": len(requests), "max_tokens": params.max_tokens, **generation},
        "vac": {"metric": "planted", "seconds": vac_seconds, "validation": vac.validation, "stages": stages},
        "peak_memory": memory, "seconds": total,
    })


if __name__ == "__main__":
    main()
