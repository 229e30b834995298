// Loads the .proto contracts from proto/ with the same options the generated types assume
// (keepCase, longs as strings, defaults), so runtime objects match common/src/grpc/generated.
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as AuditProto } from './generated/audit.ts';
import type { ProtoGrpcType as TallyProto } from './generated/tally.ts';

const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

function load(file: string): unknown {
  return loadPackageDefinition(loadSync(`${PROTO_DIR}${file}`, OPTIONS));
}

export function loadTallyProto(): TallyProto {
  return load('tally.proto') as TallyProto;
}

export function loadAuditProto(): AuditProto {
  return load('audit.proto') as AuditProto;
}
