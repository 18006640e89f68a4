#!/usr/bin/env bash
# The generation servers of configs/cluster/restpg-8gpu.yaml on one node of 8 GPUs.
# Start them, wait until each answers GET /v1/models, then run the trainer command this
# script prints last (it names the GPUs the servers leave free):
#   bash configs/cluster/restpg-8gpu-servers.sh
#
#   GPUs 0-1  reasoner and judge   Gemma-7B, one replica per GPU            ports 8100, 8101
#   GPUs 2-3  policy               Gemma-2B with runtime LoRA, 2 replicas    ports 8000, 8001
#   GPUs 4-7  training             each SFT stage, accelerate launch (4 processes, DDP)
#
# Each --max-model-len holds the longest request of the roles the server serves: the input
# budget plus the outputs its prompt quotes plus its max_tokens (docs/scaling.md, "One node
# of 8 GPUs"); tests/test_cluster_recipes.py checks these flags against the recipe.
set -euo pipefail
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
LOGS=${LOGS:-runs/restpg-8gpu-servers}
TRAINER_GPUS=4,5,6,7  # one per training process (sft.num_processes: 4)
mkdir -p "$LOGS"
for i in 0 1; do
  CUDA_VISIBLE_DEVICES=$i nohup vllm serve google/gemma-7b-it --port $((8100 + i)) --max-model-len 8192 \
    --enable-prefix-caching > "$LOGS/gemma-7b-$i.log" 2>&1 &
  CUDA_VISIBLE_DEVICES=$((2 + i)) nohup vllm serve google/gemma-2b-it --port $((8000 + i)) --max-model-len 6656 \
    --enable-prefix-caching --enable-lora --max-lora-rank 16 --max-loras 1 --max-cpu-loras 2 > "$LOGS/gemma-2b-$i.log" 2>&1 &
done
echo "servers starting; logs in $LOGS."
echo "When each answers (curl -s localhost:8000/v1/models localhost:8001/v1/models localhost:8100/v1/models localhost:8101/v1/models), start the trainer:"
echo "CUDA_VISIBLE_DEVICES=$TRAINER_GPUS tailor train rest-pg --config configs/cluster/restpg-8gpu.yaml"
