// A minimal GraphQL-over-HTTP client for scenarios: posts a document through the gateway and
// returns the whole response (data and errors), so tests can assert on either.
export interface GraphQLResponse<TData = Record<string, unknown>> {
  readonly status: number;
  readonly data?: TData | null;
  readonly errors?: readonly { message: string; extensions?: Record<string, unknown>; path?: readonly (string | number)[] }[];
}

export interface GraphQLClient {
  request<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<TData>>;
  /** Like `request` but fails the test with the errors when there are any. */
  data<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<TData>;
  voterToken(): Promise<string>;
  adminToken(secret: string): Promise<string>;
}

export function createGraphQLClient(baseUrl: string): GraphQLClient {
  async function request<TData>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GraphQLResponse<TData>> {
    const response = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResponse<TData>, 'status'>;
    return { status: response.status, ...body };
  }

  async function issueToken(body: unknown): Promise<string> {
    const response = await fetch(`${baseUrl}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
    const json = (await response.json()) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new Error(`token response had no token: ${JSON.stringify(json)}`);
    return token;
  }

  return {
    request,
    async data<TData>(query: string, variables?: Record<string, unknown>, token?: string) {
      const result = await request<TData>(query, variables, token);
      if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)} (HTTP ${result.status})`);
      return result.data;
    },
    voterToken: () => issueToken({}),
    adminToken: (secret) => issueToken({ adminSecret: secret }),
  };
}
