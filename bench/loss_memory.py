"""Peak memory of the weighted SFT loss, forward and backward, at a large vocabulary on CPU:
the full-logits formula tailor used until issue 27 (kept here only, as the reference)
against the loss tailor computes now, through TRL's fused LM head.

Each measurement runs in a fresh process: a tiny random Llama (2 layers, hidden 64) with
Gemma's vocabulary of 256,000 entries, LoRA on every linear layer as tailor trains it
(PEFT's all-linear, which leaves the LM head out), tailor's ``WeightedSFTTrainer`` built on
it, and one batch of ``rows`` sequences of ``tokens`` tokens whose first quarter is prompt
(label -100). The step is ``loss = compute_loss(batch); loss.backward()``.

How memory is counted: the process's resident-set high-water mark (VmHWM in
/proc/self/status, reset through /proc/self/clear_refs just before the step, Linux only)
minus its resident set at that moment: everything the step adds at its peak, whoever
allocates it. glibc is told to map every block of 128 KiB or more on its own and unmap it
when freed (MALLOC_MMAP_THRESHOLD_), so the resident set follows the live tensors. A small
step runs first, so that code paged in and lazy initialisation are not counted; the model,
trainer and batch exist before the reset and are not counted either. "fp32 logits" is the
size of one float32 copy of the (tokens x vocabulary) logits. On a GPU TRL folds each tile
in a Triton kernel, without the temporaries its torch fallback makes here, and projects only
labelled tokens, so the fused head holds less there than measured here.

    .venv/bin/python bench/loss_memory.py [--quick] [--rows 4] [--tokens 512]
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from common import note, parse_args, table, threads, write_result

VOCABULARY = 256_000  # Gemma's
PROMPT_SHARE = 0.25
DTYPES = ("float32", "bfloat16")  # the CPU default, and the GPU recipe's weights and logits
# glibc serves every block of 128 KiB or more from its own mapping, returned when freed; by
# default it raises that threshold as blocks are freed (up to 32 MiB) and keeps freed blocks
# below it, which the resident set would count as still in use
FRESH_PAGES = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}


def resident_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))


def full_logits_loss(model, inputs: dict):
    """The weighted loss as tailor computed it before issue 27: the model's full logits, a
    float32 copy, and a per-token cross entropy over the whole vocabulary."""
    import torch

    weight, labels = inputs.pop("weight"), inputs.pop("labels")
    outputs = model(**inputs)
    logits, targets = outputs.logits[:, :-1, :].float(), labels[:, 1:]
    token_losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
    per_sequence = token_losses.sum(dim=1) / (targets != -100).sum(dim=1).clamp(min=1)
    return (weight.to(per_sequence.dtype) * per_sequence).mean()


def measure(variant: str, dtype: str, rows: int, tokens: int) -> dict:
    """One step of ``variant`` ('full' or 'fused') in this process: its peak, in MiB."""
    import tempfile

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig

    from tailor.models import resolve_model
    from tailor.train.weighted import weighted_sft_trainer

    torch.set_num_threads(threads())
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCABULARY, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))  # only for TRL's preparation of the one row
    row = {"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello."}], "weight": 1.0}
    with tempfile.TemporaryDirectory() as work:
        args = SFTConfig(output_dir=work, use_cpu=True, bf16=False, report_to="none", completion_only_loss=True)
        trainer = weighted_sft_trainer()(
            model=model, args=args, train_dataset=Dataset.from_list([row]), processing_class=tokenizer,
            peft_config=LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
    compute = full_logits_loss if variant == "full" else trainer.compute_loss

    def step(count: int, length: int) -> float:
        input_ids = torch.randint(0, VOCABULARY, (count, length))
        labels = input_ids.masked_fill(torch.arange(length) < int(length * PROMPT_SHARE), -100)
        batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels, "weight": torch.linspace(0.5, 1.0, count)}
        loss = compute(trainer.model, batch)
        loss.backward()
        return float(loss)

    step(1, 16)  # a small step first: the code it runs is paged in, and lazy initialisation done, outside the count
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = resident_kib("VmRSS")
    loss = step(rows, tokens)
    peak = resident_kib("VmHWM")
    return {"variant": variant, "dtype": dtype, "rows": rows, "tokens": tokens, "loss": loss, "peak_mib": (peak - before) / 1024}


def measured(variant: str, dtype: str, rows: int, tokens: int) -> dict:
    """``measure`` in a fresh process, so no earlier step's memory is counted."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([variant, dtype, rows, tokens])],
        capture_output=True, text=True, check=False, env={**os.environ, **FRESH_PAGES},
    )
    if done.returncode:
        raise RuntimeError(f"the {variant} {dtype} step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fp32_logits_mib(rows: int, tokens: int) -> float:
    """One float32 copy of the shifted (tokens x vocabulary) logits."""
    return rows * (tokens - 1) * VOCABULARY * 4 / 2**20


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(*json.loads(sys.argv[2]))))
        return
    args = parse_args(__doc__, rows=4, tokens=512)
    rows, tokens = (2, 64) if args.quick else (args.rows, args.tokens)

    paired = []
    for dtype in DTYPES[:1] if args.quick else DTYPES:
        full, fused = (measured(variant, dtype, rows, tokens) for variant in ("full", "fused"))
        logits = fp32_logits_mib(rows, tokens)
        paired.append({
            "dtype": dtype, "rows": rows, "tokens": tokens, "fp32_logits_mib": logits,
            "full_peak_mib": full["peak_mib"], "fused_peak_mib": fused["peak_mib"], "ratio": full["peak_mib"] / fused["peak_mib"],
            "full_peak_per_fp32_logits": full["peak_mib"] / logits, "loss_full": full["loss"], "loss_fused": fused["loss"],
        })
    table(
        f"peak memory of one weighted-loss step, forward + backward, vocabulary {VOCABULARY:,} (MiB)",
        ["weights", "rows x tokens", "fp32 logits", "full-logits loss", "fused head", "ratio", "full / fp32 logits"],
        [[r["dtype"], f"{r['rows']} x {r['tokens']}", r["fp32_logits_mib"], r["full_peak_mib"], r["fused_peak_mib"], r["ratio"], r["full_peak_per_fp32_logits"]] for r in paired],
    )
    note(f"the two losses agree within {max(abs(r['loss_full'] - r['loss_fused']) / abs(r['loss_full']) for r in paired):.1e} (relative)")

    # More tokens: the fused head alone (the full-logits loss would not fit this machine), in float32
    factor = paired[0]["full_peak_per_fp32_logits"]
    longer = []
    for scale in (2,) if args.quick else (2, 4):
        fused = measured("fused", "float32", rows, tokens * scale)
        logits = fp32_logits_mib(rows, tokens * scale)
        longer.append({"dtype": "float32", "rows": rows, "tokens": tokens * scale, "fp32_logits_mib": logits, "fused_peak_mib": fused["peak_mib"], "full_peak_mib_estimated": factor * logits})
    table(
        "the fused head at more tokens, float32 (MiB)",
        ["rows x tokens", "fp32 logits", "fused head", "full-logits loss (estimated)"],
        [[f"{r['rows']} x {r['tokens']}", r["fp32_logits_mib"], r["fused_peak_mib"], r["full_peak_mib_estimated"]] for r in longer],
    )
    note("peak = resident-set high-water mark minus the resident set just before the step, each measurement in a fresh process")
    note(f"estimated = the float32 full-logits peak measured above, {factor:.2f} x the fp32 logits, at the longer shape")
    note("on CPU TRL's head folds each tile (4096 tokens x 32,768 entries at most) with torch ops and their temporaries; on a GPU a Triton kernel does")
    write_result("loss_memory", {"quick": args.quick, "vocabulary": VOCABULARY, "prompt_share": PROMPT_SHARE, "paired": paired, "fused_longer": longer})


if __name__ == "__main__":
    main()
