#!/usr/bin/env bash
# The generation servers of configs/cluster/vac-8gpu.yaml on one node of 8 GPUs (80 GB each).
# Start them, wait until each answers GET /v1/models, then run the trainer command this
# script prints last (it names the GPUs the servers leave free):
#   bash configs/cluster/vac-8gpu-servers.sh
#
#   GPUs 0-1  judge       Qwen2.5-32B-Instruct, tensor parallel 2          port 8100
#   GPU  2    replica 1   Qwen2.5-7B-Instruct, policy and feedback model   port 8000
#   GPU  3    replica 2   Qwen2.5-7B-Instruct                              port 8001
#   GPUs 4-7  training    each LoRA stage, accelerate launch (4 processes, DDP): started by tailor
#
# Each --max-model-len holds the longest request of the roles the server serves: the input
# budget plus the outputs its prompt quotes plus its max_tokens (docs/scaling.md, "One node
# of 8 GPUs"); tests/test_cluster_recipes.py checks these flags against the recipe.
# The policy and feedback adapters the loop trains are registered on both replicas at run time
# (POST /v1/load_lora_adapter), so the replicas must read the run folder at the same path:
# run everything on this node, or put run_dir on shared storage.
set -euo pipefail
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
LOGS=${LOGS:-runs/vac-8gpu-servers}
TRAINER_GPUS=4,5,6,7  # one per training process (sft.num_processes: 4)
mkdir -p "$LOGS"

CUDA_VISIBLE_DEVICES=0,1 nohup vllm serve Qwen/Qwen2.5-32B-Instruct --port 8100 --tensor-parallel-size 2 \
  --max-model-len 8192 --enable-prefix-caching > "$LOGS/judge.log" 2>&1 &
for i in 0 1; do
  CUDA_VISIBLE_DEVICES=$((2 + i)) nohup vllm serve Qwen/Qwen2.5-7B-Instruct --port $((8000 + i)) \
    --max-model-len 10240 --enable-prefix-caching --enable-lora --max-lora-rank 16 --max-loras 2 --max-cpu-loras 4 \
    > "$LOGS/policy-$i.log" 2>&1 &
done
echo "servers starting; logs in $LOGS (the 32B judge takes a few minutes to load)."
echo "When each answers (curl -s localhost:8000/v1/models localhost:8001/v1/models localhost:8100/v1/models), start the trainer:"
echo "CUDA_VISIBLE_DEVICES=$TRAINER_GPUS tailor train vac --config configs/cluster/vac-8gpu.yaml"
