// The gateway's auth policy: which fields need a verified caller and which need scopes, read from
// the supergraph's `@authenticated` / `@requiresScopes` markers (the Apollo Router semantics).
// `@requiresScopes(scopes: [["a", "b"], ["c"]])` means (a AND b) OR c.
import type { Identity } from '@votemesh/common/contracts/identity';

export type FieldAuth = 'public' | 'authenticated' | { readonly scopes: readonly (readonly string[])[] };

/** A requirement written on a type applies to every field of it and every field returning it. */
export interface AuthPolicy {
  getFieldAuth(typeName: string, fieldName: string): FieldAuth;
  /** True when no field or type carries a requirement (e.g. a foreign graph without auth). */
  readonly isEmpty: boolean;
}

export interface PolicyMarks {
  /** `Type.field` or `Type` → requirement written there. */
  readonly marks: ReadonlyMap<string, FieldAuth>;
  /** `Type.field` → the named type it returns, so a type-level mark reaches fields returning it. */
  readonly returnTypes: ReadonlyMap<string, string>;
}

export function createAuthPolicy({ marks, returnTypes }: PolicyMarks): AuthPolicy {
  return {
    isEmpty: marks.size === 0,
    getFieldAuth(typeName, fieldName) {
      const key = `${typeName}.${fieldName}`;
      let auth: FieldAuth = marks.get(key) ?? 'public';
      auth = combineAuth(auth, marks.get(typeName) ?? 'public');
      const returned = returnTypes.get(key);
      if (returned !== undefined) auth = combineAuth(auth, marks.get(returned) ?? 'public');
      return auth;
    },
  };
}

/** Both requirements must hold: scopes imply authentication; two scope sets multiply out. */
export function combineAuth(a: FieldAuth, b: FieldAuth): FieldAuth {
  if (a === 'public') return b;
  if (b === 'public') return a;
  if (a === 'authenticated') return b;
  if (b === 'authenticated') return a;
  const scopes: string[][] = [];
  for (const left of a.scopes) {
    for (const right of b.scopes) scopes.push([...new Set([...left, ...right])]);
  }
  return { scopes };
}

/** The scopes a caller holds: those in its token plus the one its role stands for. */
export function callerScopes(identity: Identity & { readonly scopes?: readonly string[] }): ReadonlySet<string> {
  const scopes = new Set(identity.scopes ?? []);
  if (identity.role === 'admin') scopes.add('admin');
  return scopes;
}

export type AuthDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: 'unauthenticated' }
  | { readonly allowed: false; readonly reason: 'forbidden'; readonly missing: readonly (readonly string[])[] };

export function decide(auth: FieldAuth, identity: (Identity & { readonly scopes?: readonly string[] }) | undefined): AuthDecision {
  if (auth === 'public') return { allowed: true };
  if (!identity) return { allowed: false, reason: 'unauthenticated' };
  if (auth === 'authenticated') return { allowed: true };
  const held = callerScopes(identity);
  const satisfied = auth.scopes.some((all) => all.every((scope) => held.has(scope)));
  return satisfied ? { allowed: true } : { allowed: false, reason: 'forbidden', missing: auth.scopes };
}

/** `[["admin"]]` → `admin`; `[["a","b"],["c"]]` → `(a and b) or c`. */
export function describeScopes(scopes: readonly (readonly string[])[]): string {
  return scopes.map((all) => (all.length === 1 || scopes.length === 1 ? all.join(' and ') : `(${all.join(' and ')})`)).join(' or ');
}
