#!/usr/bin/env bash
# One prepared command for a GPU machine: what tempo does on a real GPU, in one short run.
#
#   bench/device.sh [--smoke] [--out FILE] [--budget SECONDS]
#
# Parts, each a separate process under its own time limit (the whole run keeps to --budget,
# default 450 s, so that it ends inside 8 minutes; a part that does not fit is skipped and says
# so): the Vulkan loader and Deno are found or unpacked; the adapter, its limits and features;
# the GPU-relevant tests; matmul at 4096/2048/1024 (the target size first, in case matmul's own
# budget ends the part) for every variant and tile setting (GFLOP/s and fraction of the card's
# f32 peak); bench/train_step.ts at bert-base (12 layers, B 32, T 128) and bert-large (24
# layers, B 8, T 512) shapes with Tempo off and on at the same batch; the paper's experiment
# (bert-large, T 512, under --memory-limit 11GiB: each setting at its own largest batch,
# tokens/s side by side); a profile of one bert-base step by kernel. One JSON file of results:
# FILE, else $OUT/device.json, else ./device.json. Exit status: 0 when every part that ran
# succeeded.
#
# --smoke runs the same path at tiny sizes on whatever adapter there is (the software one here,
# so a test can run it: bench/device_test.ts); it never unpacks anything into /.
#
# What it needs (docs/device.md says how to bring it):
# - Deno: $DENO, else a carried .deno/deno (or .deno/deno.xz / .deno/deno.gz, unpacked to
#   /tmp), else `deno` on PATH, else the npm package's binary under ~/.npm/_npx.
# - A Vulkan loader: libvulkan.so.1 on the machine, else the .debs carried in .gl/ (unpacked into
#   / as the device README says), and a Vulkan driver (the NVIDIA ICD under /usr/local/nvidia
#   is used when no other is found).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=0
OUT_FILE=""
BUDGET=450
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --out) OUT_FILE="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "device.sh: unknown argument '$1' (use --smoke, --out FILE, --budget SECONDS)"; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT_FILE" ]; then
  OUT_FILE="${OUT:-.}/device.json"
fi
START=$(date +%s)
PARTS=$(mktemp -d /tmp/tempo-device.XXXXXX)
trap 'rm -rf "$PARTS"' EXIT
: >"$PARTS/status.tsv"

say() { echo "[device.sh +$(($(date +%s) - START))s] $*"; }

# --- Vulkan: loader and driver ------------------------------------------------------------------
vulkan_note=""
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  if [ "$SMOKE" = 1 ]; then
    vulkan_note="no libvulkan.so.1 (smoke: nothing unpacked)"
  elif ls .gl/*.deb >/dev/null 2>&1; then
    say "no libvulkan.so.1: unpacking the carried .gl/*.deb into /"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    vulkan_note="loader unpacked from .gl/"
  else
    vulkan_note="no libvulkan.so.1 and no .gl/*.deb carried"
  fi
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  say "NO VULKAN LOADER: libvulkan.so.1 is missing ($vulkan_note). Carry the loader .debs in .gl/" \
    "(docs/device.md); Deno's WebGPU will find no Vulkan adapter."
fi
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -z "$icds" ] && [ -f "$nvidia_icd" ]; then
  export VK_DRIVER_FILES=$nvidia_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  icds=$nvidia_icd
fi
if [ -z "$icds${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  say "NO VULKAN DRIVER: no ICD file in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or $nvidia_icd" \
    "(set VK_DRIVER_FILES to the driver's ICD json)."
fi
export DENO_WEBGPU_BACKEND=vulkan

# --- Deno -------------------------------------------------------------------------------------
find_deno() {
  if [ -n "${DENO:-}" ]; then echo "$DENO"; return; fi
  if [ -x .deno/deno ]; then echo "$ROOT/.deno/deno"; return; fi
  for packed in .deno/deno.xz .deno/deno.gz; do
    [ -f "$packed" ] || continue
    local dst=/tmp/tempo-deno/deno
    mkdir -p /tmp/tempo-deno
    if [ ! -x "$dst" ]; then
      case "$packed" in
        *.xz) if command -v xz >/dev/null; then xz -dc "$packed" >"$dst.part"
              else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$packed" "$dst.part"; fi ;;
        *.gz) gzip -dc "$packed" >"$dst.part" ;;
      esac
      chmod +x "$dst.part" && mv "$dst.part" "$dst"
    fi
    echo "$dst"; return
  done
  if command -v deno >/dev/null 2>&1; then command -v deno; return; fi
  local npx
  npx=$(ls -d "$HOME"/.npm/_npx/*/node_modules/@deno/*/deno 2>/dev/null | head -n 1)
  if [ -n "$npx" ]; then echo "$npx"; return; fi
}
DENO_BIN=$(find_deno)
if [ -z "$DENO_BIN" ] || ! "$DENO_BIN" --version >/dev/null 2>&1; then
  say "NO DENO: set DENO=/path/to/deno or carry .deno/deno.xz (docs/device.md)"
  exit 2
fi
export DENO_DIR="${DENO_DIR:-/tmp/tempo-deno-dir}" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
say "deno: $DENO_BIN ($("$DENO_BIN" --version | head -n 1)); smoke: $SMOKE; budget ${BUDGET}s"

# --- parts ----------------------------------------------------------------------------------
# run_part NAME LIMIT_S MIN_S CMD...: runs CMD under min(LIMIT_S, time left) seconds, unless
# fewer than MIN_S are left (then skipped); records its status and duration.
run_part() {
  local name=$1 limit=$2 min=$3
  shift 3
  local left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -lt "$min" ]; then
    say "== $name: SKIPPED (${left}s left of the budget, needs ${min}s)"
    printf '%s\tskipped\t0\tout of time\n' "$name" >>"$PARTS/status.tsv"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "== $name (limit ${limit}s)"
  local t0 status rc
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$PARTS/$name.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  say "== $name: $status (exit $rc) in $(($(date +%s) - t0))s"
  printf '%s\t%s\t%s\texit %s\n' "$name" "$status" "$(($(date +%s) - t0))" "$rc" \
    >>"$PARTS/status.tsv"
}

RUN=("$DENO_BIN" run -A --no-check)
if [ "$SMOKE" = 1 ]; then
  TESTS=(core/encoder_profile_test.ts)
  MM=(--shapes 64,96 --layouts NT,TN --dtypes f32,bf16 --tiles 16x32x4/4x8/vec4/db,16x16x4/4x4)
  BASE=(--model roberta-tiny --batch 2 --seq 16 --steps 2 --settings baseline,regen)
  LARGE=(--model roberta-tiny --batch 2 --seq 32 --steps 2 --settings baseline,regen)
  PAPER=(--model roberta-tiny --seq 32 --steps 2 --memory-limit 3MiB --settings baseline,regen)
  PROFILE=(--model roberta-tiny --batch 2 --seq 16 --reps 2)
  NEED_GPU=()
else
  TESTS=(core/ layers/) # models/ pulls npm packages (a tokenizer), which an offline run lacks
  MM=(--shapes 4096,2048,1024 --layouts NT,NN,TN --dtypes f32,bf16 --budget 100
    --tiles 128x128x8/8x8/vec4/db,128x128x8/8x8/vec4,128x128x16/8x8/vec4/db,128x64x8/8x8/vec4/db,64x64x8/4x4/vec4/db,64x64x16/4x4,32x32x8/4x4)
  BASE=(--model bert-base --layers 12 --batch 32 --seq 128 --steps 5)
  LARGE=(--model bert-large --layers 24 --batch 8 --seq 512 --steps 3)
  PAPER=(--model bert-large --layers 24 --seq 512 --steps 3 --memory-limit 11GiB
    --settings baseline,bits,regen)
  PROFILE=(--model bert-base --layers 12 --batch 32 --seq 128 --reps 2 --timing both)
  NEED_GPU=(--need-gpu)
fi
[ "$SMOKE" = 1 ] && PROFILE+=(--timing both)

run_part info 60 10 "${RUN[@]}" bench/device_info.ts --json "$PARTS/info.json" "${NEED_GPU[@]}"
if ! grep -q $'^info\tok' "$PARTS/status.tsv"; then
  say "no usable GPU adapter (see the info part): the GPU parts are skipped"
  for p in tests matmul train_base train_large paper profile; do
    printf '%s\tskipped\t0\tno usable adapter\n' "$p" >>"$PARTS/status.tsv"
  done
else
  run_part tests 100 30 "$DENO_BIN" test -A --no-check --parallel "${TESTS[@]}"
  run_part matmul 120 30 "${RUN[@]}" bench/matmul.ts "${MM[@]}" --json "$PARTS/matmul.json"
  run_part train_base 70 20 "${RUN[@]}" bench/train_step.ts "${BASE[@]}" \
    --json "$PARTS/train_base.json"
  run_part train_large 80 30 "${RUN[@]}" bench/train_step.ts "${LARGE[@]}" \
    --json "$PARTS/train_large.json"
  run_part paper 80 30 "${RUN[@]}" bench/train_step.ts "${PAPER[@]}" --json "$PARTS/paper.json"
  run_part profile 40 15 "${RUN[@]}" bench/profile_step.ts "${PROFILE[@]}" \
    --json "$PARTS/profile.json"
fi

mkdir -p "$(dirname "$OUT_FILE")"
"$DENO_BIN" run -A --no-check bench/device_report.ts "$PARTS" "$OUT_FILE" "$SMOKE" \
  "$(($(date +%s) - START))" "$vulkan_note"
rc=$?
say "results: $OUT_FILE"
if [ $rc -ne 0 ] || grep -q $'\tfailed\t' "$PARTS/status.tsv"; then exit 1; fi
exit 0
