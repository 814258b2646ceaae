#!/usr/bin/env bash
# `npm run demo:classify`: installs what is missing, writes the labelled
# passages (examples/fairy-tale-passages.ts), then runs the service's real
# path (Redis, the coordinator and 2 workers) on examples/demo-classify.yaml:
# an MLM stage on both fairy-tale collections, then a classification stage.
# Finally the run's classifier scores the held-out test passages with
# `gradpool classify --input` and the demo prints their macro-F1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node --import tsx examples/fairy-tale-passages.ts
name="demo-classify-$(date +%Y%m%d-%H%M%S)"
node bin/gradpool.js train examples/demo-classify.yaml --workers "${GRADPOOL_DEMO_WORKERS:-2}" --name "$name"
node bin/gradpool.js classify "runs/$name" --input .cache/fairy-tale-passages/test.csv --json > "runs/$name/test-predictions.json"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const m = r.metrics;
  console.log(`held-out test passages: ${m.examples}, accuracy ${(m.accuracy * 100).toFixed(2)}%`);
  console.log(`macro-F1 on held-out passages: ${m.macro_f1.toFixed(4)}`);
' "runs/$name/test-predictions.json"
echo "Try the classifier:  node bin/gradpool.js classify runs/$name \"The old man lived by the sea near Kyoto with his wife.\""
