#!/usr/bin/env bash
# Regenerates the Prisma client into common/src/db/generated. `prisma generate` needs no engine
# download when PRISMA_SCHEMA_ENGINE_BINARY points at any existing file; --check fails on drift.
set -euo pipefail
cd "$(dirname "$0")/.."
PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" CHECKPOINT_DISABLE=1 npx prisma generate >/dev/null
if [ "${1:-}" = "--check" ]; then
  git diff --exit-code --stat -- common/src/db/generated || {
    echo "common/src/db/generated is out of date with prisma/schema.prisma: run 'npm run prisma:generate' and commit." >&2
    exit 1
  }
fi
