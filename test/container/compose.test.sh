#!/usr/bin/env bash
# Container test: builds the image, runs the compose stack (2 replicas + nginx), classifies through the load balancer,
# checks that both replicas served, runs 10 s of autocannon with zero errors, checks a graceful stop, tears down.
#
#   bash test/container/compose.test.sh           (as root; CI runs it after the unit tests)
# Environment: CONTAINER_ENV (default ../shared/tools/container-env.sh beside the repository), MIXER_CPUS (CPU limit
# per replica, default 0.75), LOADTEST_SWEEP=1 (also run the 1/8/32/64 sweep into bench/results/compose-2x.*),
# KEEP_ENGINE=1 (leave a Docker engine this script started running).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
CONTAINER_ENV=${CONTAINER_ENV:-$ROOT/../shared/tools/container-env.sh}

say() { printf '[container-test %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ ! -f "$CONTAINER_ENV" ]; then
  say "SKIP: $CONTAINER_ENV is absent, so there is no local container engine to test with"
  exit 0
fi

T0=$(now)
PROJECT=mixerci$$
IMAGE=onnx-mixer:ci
TMP=$(mktemp -d)
ENGINE_STARTED=0
MADE_MODELS_DIR=0
COMPOSE=(docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml")
# The stack's knobs (docker-compose.yml): our image, a free host port, small CPU caps on a shared machine.
export MIXER_IMAGE=$IMAGE MIXER_CPUS=${MIXER_CPUS:-0.75} LB_CPUS=${LB_CPUS:-0.5} MIXER_THREADS=1 LOG_LEVEL=warn
unset MODEL_PATH MODEL_DIR MIXER_REPLICAS 2>/dev/null || true

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && command -v docker-compose >/dev/null; then
    say "FAILED (exit $rc); last service logs:"
    "${COMPOSE[@]}" ps 2>/dev/null
    "${COMPOSE[@]}" logs --no-color --tail 40 2>/dev/null | tail -120
  fi
  if command -v docker-compose >/dev/null && docker info >/dev/null 2>&1; then
    say "tearing down the stack"
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1
    left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
    [ -z "$left" ] || docker rm -f $left >/dev/null 2>&1
  fi
  [ "$MADE_MODELS_DIR" = 1 ] && rmdir "$ROOT/models" 2>/dev/null
  rm -rf "$TMP"
  if [ "$ENGINE_STARTED" = 1 ] && [ "${KEEP_ENGINE:-0}" != 1 ]; then
    say "stopping the Docker engine this test started"
    bash "$CONTAINER_ENV" down >/dev/null 2>&1
  fi
  say "total $(secs "$T0" "$(now)") s"
  exit "$rc"
}
trap cleanup EXIT

# ---- 0. engine -------------------------------------------------------------------------------------------------------
docker info >/dev/null 2>&1 || ENGINE_STARTED=1
say "container engine: $CONTAINER_ENV up"
eval "$(bash "$CONTAINER_ENV" up)"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
T_ENGINE=$(now)

# ---- 1. build --------------------------------------------------------------------------------------------------------
BUILD_ARGS=()
if [ ! -f models/mixer-cifar10.onnx ]; then
  say "NOTE: models/mixer-cifar10.onnx is not in this checkout; the test image bakes an untrained stand-in"
  [ -d models ] || { mkdir models; MADE_MODELS_DIR=1; }
  BUILD_ARGS+=(--build-arg ALLOW_UNTRAINED=1)
fi
say "1/7 docker build -t $IMAGE ."
docker build -t "$IMAGE" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} . >"$TMP/build.log" 2>&1 || { tail -60 "$TMP/build.log"; exit 1; }
T_BUILD=$(now)
SIZE_MB=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f", $1 / 1e6 }')
say "built in $(secs "$T_ENGINE" "$T_BUILD") s; image $IMAGE is $SIZE_MB MB"
[ "$SIZE_MB" -lt 400 ] || { say "image is $SIZE_MB MB, target < 400 MB"; exit 1; }
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" != "" ] || { say "image runs as root"; exit 1; }

# ---- 2. compose up: 2 replicas + nginx ---------------------------------------------------------------------------
export MIXER_PORT
MIXER_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
BASE=http://127.0.0.1:$MIXER_PORT
say "2/7 docker-compose up -d --scale mixer=2 (lb on $BASE)"
T_UP=$(now)
"${COMPOSE[@]}" up -d --no-build --scale mixer=2 >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; exit 1; }

# ---- 3. health -------------------------------------------------------------------------------------------------------
say "3/7 waiting for the replicas and the load balancer"
ok=0
for _ in $(seq 240); do
  if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
[ "$ok" = 1 ] || { say "no healthy answer through the load balancer within 120 s"; exit 1; }
T_HEALTHY=$(now)
mapfile -t REPLICAS < <("${COMPOSE[@]}" ps -q mixer)
[ "${#REPLICAS[@]}" = 2 ] || { say "expected 2 replicas, got ${#REPLICAS[@]}"; exit 1; }
for c in "${REPLICAS[@]}"; do
  st=$(docker inspect -f '{{.State.Health.Status}}' "$c")
  [ "$st" = healthy ] || { say "replica $c is $st"; exit 1; }
done
say "up to healthy in $(secs "$T_UP" "$T_HEALTHY") s"

# ---- 4. classify a real image through the load balancer --------------------------------------------------------------
say "4/7 classify through the load balancer"
node --input-type=module -e '
import { existsSync, readFileSync } from "node:fs";
import sharp from "sharp";
const [out] = process.argv.slice(-1);
const dir = "data/cifar10";
if (existsSync(`${dir}/test_images.u8`)) {
  const raw = readFileSync(`${dir}/test_images.u8`).subarray(0, 32 * 32 * 3);
  await sharp(raw, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(out);
  console.log("CIFAR-10 test image 0");
} else {
  const raw = Buffer.alloc(96 * 64 * 3).map((_, i) => (i * 7) & 255);
  await sharp(raw, { raw: { width: 96, height: 64, channels: 3 } }).png().toFile(out);
  console.log("synthetic 96x64 image");
}' -- "$TMP/image.png"
code=$(curl -sS -o "$TMP/classify.json" -w '%{http_code}' -F "image=@$TMP/image.png;type=image/png" "$BASE/classify?top=3")
[ "$code" = 200 ] || { say "POST /classify (multipart) answered $code: $(head -c 400 "$TMP/classify.json")"; exit 1; }
code=$(curl -sS -o "$TMP/classify-raw.json" -w '%{http_code}' -H 'content-type: image/png' --data-binary "@$TMP/image.png" "$BASE/classify")
[ "$code" = 200 ] || { say "POST /classify (raw) answered $code: $(head -c 400 "$TMP/classify-raw.json")"; exit 1; }
curl -fsS "$BASE/v1/model" >"$TMP/model.json"
# The page ships in the image: GET / and the script it names.
curl -fsS "$BASE/" >"$TMP/index.html" || { say "GET / failed"; exit 1; }
asset=$(grep -o '/ui/static/[0-9a-f]*/classify.js' "$TMP/index.html" | head -n 1)
{ [ -n "$asset" ] && curl -fsS -o /dev/null "$BASE$asset"; } || { say "the page's script ($asset) is not served: is ui/ copied into the image?"; exit 1; }
node -e '
const fs = require("fs");
const [a, b, m] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const p = a.results?.[0]?.predictions;
if (!Array.isArray(p) || p.length !== 3) throw new Error("multipart: expected 3 predictions: " + JSON.stringify(a));
if (!m.labels.includes(p[0].label)) throw new Error("unknown label " + p[0].label);
for (let i = 1; i < p.length; i++) if (p[i].probability > p[i - 1].probability) throw new Error("predictions not sorted");
if (b.results?.[0]?.predictions?.[0]?.label !== p[0].label) throw new Error("raw and multipart disagree");
if (a.model?.sha256 !== m.sha256) throw new Error("model sha256 differs between /classify and /v1/model");
console.log(`top-1 ${p[0].label} (${p[0].probability.toFixed(3)}), model ${m.name} ${m.sha256.slice(0, 12)} on ${m.provider}`);
' "$TMP/classify.json" "$TMP/classify-raw.json" "$TMP/model.json"
# Open Inference Protocol through the load balancer too.
MODEL_NAME=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$TMP/model.json")
node -e 'console.log(JSON.stringify({ inputs: [{ name: "pixels", datatype: "UINT8", shape: [1, 32, 32, 3], data: Array.from({ length: 3072 }, (_, i) => i % 256) }] }))' >"$TMP/v2.json"
code=$(curl -sS -o "$TMP/v2-out.json" -w '%{http_code}' -H 'content-type: application/json' --data-binary "@$TMP/v2.json" "$BASE/v2/models/$MODEL_NAME/infer")
[ "$code" = 200 ] || { say "v2 infer answered $code: $(head -c 400 "$TMP/v2-out.json")"; exit 1; }
grep -q '"probabilities"' "$TMP/v2-out.json" || { say "v2 infer lacks probabilities"; exit 1; }

# ---- 5. both replicas serve ----------------------------------------------------------------------------------------
say "5/7 both replicas serve"
for _ in $(seq 20); do
  curl -sS -o /dev/null -D - -F "image=@$TMP/image.png;type=image/png" "$BASE/classify?top=1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-upstream" { print $2 }'
done | sort | uniq -c | tee "$TMP/upstreams.txt"
[ "$(wc -l <"$TMP/upstreams.txt")" -ge 2 ] || { say "nginx sent every request to one replica"; exit 1; }
replica_images() {
  docker exec "$1" node -e 'fetch("http://127.0.0.1:" + (process.env.PORT || 3000) + "/metrics").then((r) => r.text()).then((t) => {
    const m = /^mixer_images_classified_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)/m.exec(t); console.log(m ? m[1] : "missing"); })'
}
for c in "${REPLICAS[@]}"; do
  n=$(replica_images "$c")
  say "replica ${c:0:12}: $n images classified"
  [ "$n" != missing ] && awk -v n="$n" 'BEGIN { exit !(n > 0) }' || { say "replica ${c:0:12} served nothing"; exit 1; }
done

# ---- 6. 10 s of autocannon through the load balancer, zero errors ---------------------------------------------------
say "6/7 autocannon: 16 connections, 10 s, through the load balancer"
node bench/loadtest.js --url "$BASE" --connections 16 --duration 10 --warmup 1 --no-baselines --max-errors 0 \
  --out "$TMP/loadtest" --name compose-ci 2>&1 | grep -v '^$'
if [ "${LOADTEST_SWEEP:-0}" = 1 ]; then
  say "sweep 1/8/32/64 connections with baselines -> bench/results/compose-2x.*"
  node bench/loadtest.js --url "$BASE" --name compose-2x --model-threads 2 --max-errors 0 2>&1 | grep -v '^$'
fi
for c in "${REPLICAS[@]}"; do say "replica ${c:0:12}: $(replica_images "$c") images classified"; done

# ---- 7. graceful stop ------------------------------------------------------------------------------------------------
say "7/7 SIGTERM stops a replica promptly and cleanly"
TS=$(now)
docker stop -t 20 "${REPLICAS[0]}" >/dev/null
STOP_S=$(secs "$TS" "$(now)")
EXIT_CODE=$(docker inspect -f '{{.State.ExitCode}}' "${REPLICAS[0]}")
say "replica stopped in $STOP_S s with exit code $EXIT_CODE"
[ "$EXIT_CODE" = 0 ] || { say "expected exit code 0 after SIGTERM"; exit 1; }
awk -v s="$STOP_S" 'BEGIN { exit !(s < 10) }' || { say "stop took $STOP_S s: SIGTERM was not handled"; exit 1; }
code=$(curl -sS -o /dev/null -w '%{http_code}' -F "image=@$TMP/image.png;type=image/png" "$BASE/classify")
[ "$code" = 200 ] || { say "with one replica down the load balancer answered $code"; exit 1; }

say "PASS  image ${SIZE_MB} MB | build $(secs "$T_ENGINE" "$T_BUILD") s | up-to-healthy $(secs "$T_UP" "$T_HEALTHY") s | engine $(secs "$T0" "$T_ENGINE") s"
