// Loads a supergraph for the gateway. @apollo/gateway refuses supergraphs that link SECURITY
// features ("feature … is for: SECURITY but is unsupported"); like Apollo Router, votemesh enforces
// `@authenticated` / `@requiresScopes` itself. So this module reads them into an AuthPolicy, then
// strips their usages, definitions and `@link`s before the SDL reaches ApolloGateway.
import {
  Kind,
  parse,
  print,
  visit,
  type ConstDirectiveNode,
  type ConstValueNode,
  type DefinitionNode,
  type DirectiveNode,
  type DocumentNode,
  type TypeNode,
} from 'graphql';
import { createAuthPolicy, type AuthPolicy, type FieldAuth, combineAuth } from './auth-policy.ts';

const AUTHENTICATED_SPEC = /^https:\/\/specs\.apollo\.dev\/authenticated\/v0\.\d+$/;
const REQUIRES_SCOPES_SPEC = /^https:\/\/specs\.apollo\.dev\/requiresScopes\/v0\.\d+$/;
const JOIN_SPEC = /^https:\/\/specs\.apollo\.dev\/join\/v\d+\.\d+$/;

export interface SubgraphEndpoint {
  readonly name: string;
  readonly url: string;
}

export interface LoadedSupergraph {
  /** The supergraph as composed (what `supergraph.graphql` holds). */
  readonly originalSdl: string;
  /** The SDL handed to ApolloGateway: the security features removed. */
  readonly executableSdl: string;
  readonly policy: AuthPolicy;
  /** Subgraphs as the supergraph names them (before SUBGRAPH_URL_<NAME> overrides). */
  readonly subgraphs: readonly SubgraphEndpoint[];
}

export class SupergraphError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SupergraphError';
  }
}

export function loadSupergraph(sdl: string): LoadedSupergraph {
  let document: DocumentNode;
  try {
    document = parse(sdl);
  } catch (error) {
    throw new SupergraphError(`The supergraph is not valid GraphQL SDL: ${(error as Error).message}`, { cause: error });
  }
  const links = readLinks(document);
  const unsupported = links.filter((link) => link.purpose === 'SECURITY' && !AUTHENTICATED_SPEC.test(link.url) && !REQUIRES_SCOPES_SPEC.test(link.url));
  if (unsupported.length > 0) {
    throw new SupergraphError(
      `The supergraph links SECURITY features the votemesh gateway does not enforce: ${unsupported.map((link) => link.url).join(', ')} (supported: @authenticated, @requiresScopes)`,
    );
  }
  const authenticated = links.find((link) => AUTHENTICATED_SPEC.test(link.url));
  const requiresScopes = links.find((link) => REQUIRES_SCOPES_SPEC.test(link.url));
  const join = links.find((link) => JOIN_SPEC.test(link.url));
  const names = { authenticated: authenticated?.name, requiresScopes: requiresScopes?.name };

  const marks = new Map<string, FieldAuth>();
  const returnTypes = new Map<string, string>();
  for (const definition of document.definitions) collectMarks(definition, names, marks, returnTypes);

  const removedDirectives = new Set([names.authenticated, names.requiresScopes].filter((name) => name !== undefined));
  const removedTypes = new Set(names.requiresScopes === undefined ? [] : [`${names.requiresScopes}__Scope`]);
  const removedLinks = new Set([authenticated?.url, requiresScopes?.url].filter((url) => url !== undefined));
  const stripped = visit(document, {
    Directive(node) {
      if (removedDirectives.has(node.name.value)) return null;
      if (node.name.value === 'link' && removedLinks.has(stringArgument(node, 'url') ?? '')) return null;
      return undefined;
    },
    DirectiveDefinition(node) {
      return removedDirectives.has(node.name.value) ? null : undefined;
    },
    ScalarTypeDefinition(node) {
      return removedTypes.has(node.name.value) ? null : undefined;
    },
  });

  return {
    originalSdl: sdl,
    executableSdl: removedDirectives.size === 0 ? sdl : print(stripped),
    policy: createAuthPolicy({ marks, returnTypes }),
    subgraphs: readSubgraphs(document, join?.name ?? 'join'),
  };
}

interface Link {
  readonly url: string;
  readonly name: string;
  readonly purpose: string | undefined;
}

function readLinks(document: DocumentNode): Link[] {
  const links: Link[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'link') continue;
      const url = stringArgument(directive, 'url');
      if (url === undefined) continue;
      const specName = url.split('/').at(-2) ?? url;
      const purpose = directive.arguments?.find((arg) => arg.name.value === 'for')?.value;
      links.push({
        url,
        name: stringArgument(directive, 'as') ?? specName,
        purpose: purpose?.kind === Kind.ENUM ? purpose.value : undefined,
      });
    }
  }
  return links;
}

function collectMarks(
  definition: DefinitionNode,
  names: { authenticated: string | undefined; requiresScopes: string | undefined },
  marks: Map<string, FieldAuth>,
  returnTypes: Map<string, string>,
): void {
  switch (definition.kind) {
    case Kind.OBJECT_TYPE_DEFINITION:
    case Kind.OBJECT_TYPE_EXTENSION:
    case Kind.INTERFACE_TYPE_DEFINITION:
    case Kind.INTERFACE_TYPE_EXTENSION: {
      const typeName = definition.name.value;
      addMark(marks, typeName, readAuth(definition.directives, names));
      for (const field of definition.fields ?? []) {
        const key = `${typeName}.${field.name.value}`;
        returnTypes.set(key, namedType(field.type));
        addMark(marks, key, readAuth(field.directives, names));
      }
      return;
    }
    case Kind.SCALAR_TYPE_DEFINITION:
    case Kind.ENUM_TYPE_DEFINITION:
      addMark(marks, definition.name.value, readAuth(definition.directives, names));
      return;
    default:
      return;
  }
}

function addMark(marks: Map<string, FieldAuth>, key: string, auth: FieldAuth): void {
  if (auth === 'public') return;
  marks.set(key, combineAuth(marks.get(key) ?? 'public', auth));
}

function readAuth(
  directives: readonly ConstDirectiveNode[] | undefined,
  names: { authenticated: string | undefined; requiresScopes: string | undefined },
): FieldAuth {
  let auth: FieldAuth = 'public';
  for (const directive of directives ?? []) {
    if (directive.name.value === names.authenticated) auth = combineAuth(auth, 'authenticated');
    if (directive.name.value === names.requiresScopes) {
      const value = directive.arguments?.find((arg) => arg.name.value === 'scopes')?.value;
      auth = combineAuth(auth, { scopes: readScopes(value) });
    }
  }
  return auth;
}

function readScopes(value: ConstValueNode | undefined): string[][] {
  if (value?.kind !== Kind.LIST) throw new SupergraphError('@requiresScopes needs `scopes: [[String!]!]!`');
  return value.values.map((inner) => {
    const items = inner.kind === Kind.LIST ? inner.values : [inner];
    return items.map((item) => {
      if (item.kind !== Kind.STRING) throw new SupergraphError('@requiresScopes scopes must be strings');
      return item.value;
    });
  });
}

function readSubgraphs(document: DocumentNode, joinName: string): SubgraphEndpoint[] {
  const subgraphs: SubgraphEndpoint[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION || definition.name.value !== `${joinName}__Graph`) continue;
    for (const value of definition.values ?? []) {
      const graph = value.directives?.find((directive) => directive.name.value === `${joinName}__graph`);
      const name = graph && stringArgument(graph, 'name');
      const url = graph && stringArgument(graph, 'url');
      if (name !== undefined && url !== undefined) subgraphs.push({ name, url });
    }
  }
  if (subgraphs.length === 0) throw new SupergraphError(`The supergraph declares no subgraphs (no ${joinName}__Graph enum with @${joinName}__graph values)`);
  return subgraphs;
}

function stringArgument(directive: DirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((arg) => arg.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}
