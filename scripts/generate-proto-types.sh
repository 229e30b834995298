#!/usr/bin/env bash
# Regenerates the TypeScript types for proto/*.proto into common/src/grpc/generated. The generator
# writes extension-less relative imports; ESM (nodenext) needs them to name the .ts file.
set -euo pipefail
cd "$(dirname "$0")/.."
out=common/src/grpc/generated
rm -rf "$out"
npx proto-loader-gen-types --keepCase --longs=String --enums=String --defaults --oneofs --grpcLib=@grpc/grpc-js --outDir="$out" proto/tally.proto proto/audit.proto >/dev/null
find "$out" -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)'#\1.ts'#g" {} +
