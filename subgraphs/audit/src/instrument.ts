// Loaded before the application (node --import tsx --import ./subgraphs/audit/src/instrument.ts
// subgraphs/audit/src/main.ts) so OpenTelemetry's instrumentations patch http, graphql, pg and
// @grpc/grpc-js as they load; main.ts imports `telemetry` from here to register its shutdown.
import { instrumentProcess } from '@votemesh/common/telemetry/instrument-process';

export const telemetry = await instrumentProcess({ service: 'audit', version: '0.1.0', env: process.env });
