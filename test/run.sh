#!/usr/bin/env bash
# The whole test suite on the pinned Node.js (.node-version; provision/node.sh provisions it when this
# machine's is another): provisions the engine, the test cluster, moto, Gitea, act, gitlab-ci-local
# and chromium (no-ops when ready), typechecks, lints (ESLint, Prettier), then runs every
# test/**/*.test.ts with node's test runner, two files at a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
node_bin=$(bash provision/node.sh | tail -n 1)
export PATH="$node_bin:$PATH"
echo "[test] Node.js $(node --version) ($(command -v node)); npm $(npm --version)" >&2
bash provision/pulumi-engine.sh >/dev/null
bash provision/test-cluster.sh >/dev/null
bash provision/moto.sh >/dev/null
bash provision/gitea.sh >/dev/null
bash provision/act.sh >/dev/null
bash provision/gitlab-ci-local.sh >/dev/null
bash provision/chromium.sh >/dev/null
npx tsc --noEmit
npm run --silent lint
mapfile -t files < <(find test -name '*.test.ts' | sort)
# A hung test fails after 15 minutes instead of holding CI until its limit.
exec node --import tsx --test --test-concurrency=2 --test-timeout=900000 "${files[@]}"
