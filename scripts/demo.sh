#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then runs the service's real path
# on this machine: Redis (the running one, else a private redis-server), the
# coordinator and 2 workers, a job on the bundled Grimm corpus submitted and
# followed to completion, then validation perplexity before and after and
# where the run folder is. Single process instead: gradpool train <job>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
name="demo-grimm-$(date +%Y%m%d-%H%M%S)"
node bin/gradpool.js train examples/demo-grimm.yaml --workers "${GRADPOOL_DEMO_WORKERS:-2}" --name "$name"
echo
echo "Try the model:  node bin/gradpool.js fill-mask runs/$name \"the king and the [MASK] lived happily.\""
