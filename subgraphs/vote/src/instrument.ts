// Loaded before the application (node --import tsx --import ./subgraphs/vote/src/instrument.ts
// subgraphs/vote/src/main.ts) so OpenTelemetry's instrumentations patch http, graphql, ioredis and
// pg as they load; main.ts imports `telemetry` from here to register its shutdown.
import { instrumentProcess } from '@votemesh/common/telemetry/instrument-process';

export const telemetry = await instrumentProcess({ service: 'vote', version: '0.1.0', env: process.env });
