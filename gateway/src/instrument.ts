// Loaded before the application (node --import tsx --import ./gateway/src/instrument.ts
// gateway/src/main.ts) so OpenTelemetry's instrumentations patch http and graphql as they load;
// main.ts imports `telemetry` from here to register its shutdown.
import { instrumentProcess } from '@votemesh/common/telemetry/instrument-process';

export const telemetry = await instrumentProcess({ service: 'gateway', version: '0.1.0', env: process.env });
