// @apollo/gateway's anonymous usage metrics, switched by votemesh's config rather than by whatever
// the process environment holds.
/**
 * Runs `construct` with @apollo/gateway's anonymous usage metrics (an OTLP exporter to
 * usage-reporting.api.apollographql.com, started in ApolloGateway's constructor) on or off. The
 * gateway offers no option for it, only the APOLLO_TELEMETRY_DISABLED environment variable it reads
 * in that constructor; so the variable is set for the synchronous construction and put back after,
 * and the config decides, not whatever the process environment happens to hold.
 */
export function withApolloTelemetry<T>(enabled: boolean, construct: () => T): T {
  // biome-ignore lint/style/noProcessEnv: ApolloGateway reads this switch from process.env and nowhere else.
  const env = process.env;
  const before = env['APOLLO_TELEMETRY_DISABLED'];
  env['APOLLO_TELEMETRY_DISABLED'] = enabled ? 'false' : 'true';
  try {
    return construct();
  } finally {
    if (before === undefined) delete env['APOLLO_TELEMETRY_DISABLED'];
    else env['APOLLO_TELEMETRY_DISABLED'] = before;
  }
}
