# Container image of the onnx-mixer HTTP service: CPU by default, CUDA 12 + cuDNN 9 with VARIANT=cuda.
#
#   CPU:   docker build -t onnx-mixer:0.1.0 .
#   CUDA:  docker build -t onnx-mixer:0.1.0-cuda --build-arg VARIANT=cuda \
#            --build-arg RUNTIME_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 .
#
# Stages: deps (production node_modules with the ONNX Runtime binaries of this platform only, plus the CUDA provider
# for VARIANT=cuda), build (TypeScript -> dist/, model check) and runtime. The variant is chosen by build arguments,
# not by --target, because the classic builder (DOCKER_BUILDKIT=0) builds every stage that precedes the target and
# would then pull the multi-GB CUDA base even for CPU images. The final stage uses every earlier stage, so BuildKit
# and the classic builder build the same thing.

ARG NODE_IMAGE=node:22-slim
# The runtime base. For VARIANT=cuda use an NVIDIA CUDA 12 + cuDNN 9 *runtime* image; Node is copied in from NODE_IMAGE.
ARG RUNTIME_IMAGE=node:22-slim

# ---- deps: production node_modules --------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
ARG VARIANT=cpu
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# The client workspace package: npm ci links node_modules/onnx-mixer-client to it (its dist/ comes from the build stage).
COPY packages/client/package.json ./packages/client/
# 1. Install production packages without lifecycle scripts (the root `prepare` needs the dev-only TypeScript compiler).
#    sharp needs no script: its prebuilt libvips comes as the @img/* optional packages.
# 2. Run onnxruntime-node's installer explicitly (package.json's allowScripts keeps npm from running it): skip = CPU
#    only (that binary ships in the package), cuda12 = download the CUDA/TensorRT provider libraries from NuGet (on
#    linux/x64; the check below fails the build if they did not arrive).
# 3. Keep only this platform's ORT binaries (the package carries Windows, macOS and arm64 ones too: ~250 MB).
# 4. Drop what Node never loads: source maps, type declarations, and OpenTelemetry's bundler-only builds (build/esm and build/esnext,
#    reached only through the "module"/"esnext" conditions; Node resolves build/src).
# 5. For CUDA, stage the Node runtime, which the NVIDIA base lacks, under /opt/node-extra (empty for CPU).
RUN set -eu; \
    case "$VARIANT" in \
      cpu) ort_install=skip ;; \
      cuda) ort_install=cuda12 ;; \
      *) echo "VARIANT must be cpu or cuda, got '$VARIANT'" >&2; exit 1 ;; \
    esac; \
    npm ci --omit=dev --ignore-scripts; \
    ONNXRUNTIME_NODE_INSTALL="$ort_install" node node_modules/onnxruntime-node/script/install.js; \
    platform="$(node -p 'process.platform + "/" + process.arch')"; \
    bin=node_modules/onnxruntime-node/bin/napi-v6; \
    for d in "$bin"/*/*; do [ "$d" = "$bin/$platform" ] || rm -rf "$d"; done; \
    if [ "$VARIANT" = cuda ]; then \
      test -f "$bin/$platform/libonnxruntime_providers_cuda.so" || { echo "CUDA provider was not installed" >&2; exit 1; }; \
    fi; \
    find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' \) -delete; \
    rm -rf node_modules/@opentelemetry/*/build/esm node_modules/@opentelemetry/*/build/esnext; \
    node -e "require('onnxruntime-node'); require('sharp')"; \
    node --input-type=module -e "await import('@opentelemetry/sdk-trace-base'); await import('@opentelemetry/exporter-trace-otlp-http'); await import('@opentelemetry/resources'); await import('@opentelemetry/core')"; \
    mkdir -p /opt/node-extra/bin; \
    if [ "$VARIANT" = cuda ]; then cp "$(command -v node)" /opt/node-extra/bin/node; fi; \
    npm cache clean --force 2>/dev/null; rm -rf /root/.npm /tmp/*

# ---- build: compile TypeScript and make sure the default model is there -------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
# --ignore-scripts: no native downloads and no `prepare` before the sources are here; tsc runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY src ./src
# Builds the client package (packages/client/dist), then the service (dist).
RUN npm run build
COPY models ./models
# The shipped image serves models/mixer-cifar10.onnx. ALLOW_UNTRAINED=1 builds an untrained stand-in when it is absent
# (for smoke tests of the container itself); without it a missing model fails the build.
ARG ALLOW_UNTRAINED=0
RUN if [ ! -f models/mixer-cifar10.onnx ]; then \
      if [ "$ALLOW_UNTRAINED" = 1 ]; then \
        echo "WARNING: models/mixer-cifar10.onnx is missing; baking an UNTRAINED cifar10-s4 stand-in" >&2 && \
        node dist/cli/main.js build --preset cifar10-s4 --out models/mixer-cifar10.onnx; \
      else \
        echo "models/mixer-cifar10.onnx is missing: train + export it, or pass --build-arg ALLOW_UNTRAINED=1" >&2; exit 1; \
      fi; \
    fi

# ---- runtime ------------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VARIANT=cpu
COPY --from=deps /opt/node-extra/ /usr/local/
# Fail the build early on a base/variant mismatch instead of at the first request.
RUN set -eu; \
    node --version >/dev/null 2>&1 || { echo "RUNTIME_IMAGE has no node: use a node image, or VARIANT=cuda with a CUDA base" >&2; exit 1; }; \
    if [ "$VARIANT" = cuda ]; then \
      for lib in libcudart.so.12 libcublasLt.so.12 libcudnn.so.9; do \
        ldconfig -p | grep -q "$lib" || ls /usr/local/cuda*/lib64/"$lib"* /usr/lib/*-linux-gnu/"$lib"* >/dev/null 2>&1 \
          || { echo "RUNTIME_IMAGE lacks $lib: use nvidia/cuda:12.x-cudnn-runtime-*" >&2; exit 1; }; \
      done; \
    fi; \
    groupadd --system --gid 10001 mixer; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin mixer
WORKDIR /app
# ORT_DISABLE_TELEMETRY: ONNX Runtime sends no usage events (the service also sets it before loading the binding).
ENV NODE_ENV=production \
    ORT_DISABLE_TELEMETRY=1 \
    PORT=3000 \
    HOST=0.0.0.0 \
    MODEL_PATH=/app/models/mixer-cifar10.onnx \
    DEVICE=${VARIANT} \
    MIXER_IMAGE_VARIANT=${VARIANT}
# package.json carries "type": "module", which dist/ needs.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
# node_modules/onnx-mixer-client links here.
COPY --from=build /src/packages/client/package.json ./packages/client/package.json
COPY --from=build /src/packages/client/dist ./packages/client/dist
COPY --from=build /src/dist ./dist
COPY --from=build /src/models ./models
# The page at / (HTML, CSS, ES modules served as they are; UI=off leaves them unused).
COPY ui ./ui
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
# The opt-in compose watcher (profile `autoheal` in docker-compose.yml); unused otherwise.
COPY deploy/docker/autoheal.mjs ./deploy/docker/autoheal.mjs
# The gRPC service definitions, read at start when GRPC_PORT is set.
COPY proto ./proto
LABEL org.opencontainers.image.title="onnx-mixer" \
      org.opencontainers.image.description="MLP-Mixer image classifier served over HTTP with ONNX Runtime" \
      org.opencontainers.image.licenses="MIT"
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 3000
# The service drains in-flight requests and exits 0 on SIGTERM; node is PID 1 and installs its own handler.
STOPSIGNAL SIGTERM
# /readyz every 5 s; after HEALTHCHECK_KILL_AFTER (3) failed checks in a row the script SIGKILLs the service so the
# restart policy replaces it (needs an init: `docker run --init`, compose `init: true`). See the script.
HEALTHCHECK --interval=5s --timeout=6s --start-period=30s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
