#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then trains a small BERT on the
# bundled Grimm corpus for a few minutes on the CPU and prints validation
# perplexity before and after, and where the run folder is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
name="demo-grimm-$(date +%Y%m%d-%H%M%S)"
node bin/gradpool.js train examples/demo-grimm.yaml --name "$name"
echo
echo "Try the model:  node bin/gradpool.js fill-mask runs/$name \"the king and the [MASK] lived happily.\""
