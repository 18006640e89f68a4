#!/usr/bin/env bash
# The generation servers of configs/cluster/restpg-8gpu.yaml on one node of 8 GPUs.
#   bash configs/cluster/restpg-8gpu-servers.sh
#   CUDA_VISIBLE_DEVICES=4,5,6,7 tailor train rest-pg --config configs/cluster/restpg-8gpu.yaml
#
#   GPUs 0-1  reasoner and judge   Gemma-7B, one replica per GPU            ports 8100, 8101
#   GPUs 2-3  policy               Gemma-2B with runtime LoRA, 2 replicas    ports 8000, 8001
#   GPUs 4-7  training             each SFT stage, accelerate launch (4 processes, DDP)
set -euo pipefail
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
LOGS=${LOGS:-runs/restpg-8gpu-servers}
mkdir -p "$LOGS"
for i in 0 1; do
  CUDA_VISIBLE_DEVICES=$i nohup vllm serve google/gemma-7b-it --port $((8100 + i)) --max-model-len 8192 \
    --enable-prefix-caching > "$LOGS/gemma-7b-$i.log" 2>&1 &
  CUDA_VISIBLE_DEVICES=$((2 + i)) nohup vllm serve google/gemma-2b-it --port $((8000 + i)) --max-model-len 6656 \
    --enable-prefix-caching --enable-lora --max-lora-rank 16 --max-loras 1 --max-cpu-loras 2 > "$LOGS/gemma-2b-$i.log" 2>&1 &
done
echo "servers starting; logs in $LOGS"
