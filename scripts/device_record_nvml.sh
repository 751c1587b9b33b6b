#!/usr/bin/env bash
# Records the NVML test fixtures on a machine with an NVIDIA GPU: one reading
# idle, one while a PyTorch job holds ~90 % of the GPU memory and keeps it busy.
# Usage (on the GPU machine, repo root): OUT=dir bash scripts/device_record_nvml.sh
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
out=${OUT:-/tmp}
python3 scripts/record_nvml.py "$out/nvml_idle.json" --repeat 20 >/dev/null
python3 - <<'PY' &
import time, torch
free, total = torch.cuda.mem_get_info()
hold = torch.empty(int(total * 0.90) - (total - free) - (2 << 30), dtype=torch.uint8, device="cuda")
a = torch.randn(8192, 8192, device="cuda")
end = time.monotonic() + 45
while time.monotonic() < end:
    a = (a @ a).clamp_(-1, 1)
torch.cuda.synchronize()
PY
load=$!
sleep 20
python3 scripts/record_nvml.py "$out/nvml_loaded.json" --repeat 20 >/dev/null
wait $load
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv
python3 -c "import json; d=json.load(open('$out/nvml_loaded.json')); print(d['status'], d['read_cpu_ms']); print({k: v for k, v in d['devices'][0].items() if k != 'processes'}, d['devices'][0]['processes'])"
