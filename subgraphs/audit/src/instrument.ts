// Loaded before the application (node --import tsx --import ./subgraphs/audit/src/instrument.ts
// subgraphs/audit/src/main.ts) so OpenTelemetry's instrumentations patch http, graphql, pg and
// @grpc/grpc-js as they load; main.ts imports `telemetry` from here to register its shutdown.
import { failStartup } from '@votemesh/common/startup';
import { instrumentProcess } from '@votemesh/common/telemetry/instrument-process';

// A bad OTEL_* value ends the process with one line naming the variable, as any other setting does.
export const telemetry = await instrumentProcess({ service: 'audit', version: '0.1.0', env: process.env }).catch((error: unknown) =>
  failStartup(error, process),
);
