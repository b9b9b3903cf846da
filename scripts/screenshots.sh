#!/usr/bin/env bash
# Regenerates the sample app's committed screenshots (sample-apps/compose/screenshots/: the
# README shows chat.png and benchmark.png) from its Compose UI tests, which render each screen
# headless against the real engine and the demo model (scripts/test-compose.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-compose.sh -Dtest='*ScreenTest'
mkdir -p sample-apps/compose/screenshots
for name in chat benchmark models; do
    cp "sample-apps/compose/target/screenshots/$name.png" sample-apps/compose/screenshots/
done
echo "==> sample-apps/compose/screenshots/: chat.png benchmark.png models.png"
