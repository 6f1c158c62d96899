/**
 * Bearer-token access to the control plane.
 *
 * A request carries its token as `Authorization: Bearer <token>` (scripts, Prometheus'
 * `authorization` / `bearer_token` setting, the dashboard's fetches) or as `?token=` (curl,
 * a browser's address bar, scrapers that only take a URL). Tokens are compared in constant time.
 *
 * Scopes: `admin` (diagnostics, killConnection) needs the admin token; `metrics` accepts the
 * metrics token or the admin token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ControlPlaneError } from './errors';

export type Scope = 'admin' | 'metrics';

export interface TokenPolicy {
  /** Token of the admin scope; unset: admin endpoints are disabled. */
  adminToken?: string;
  /** Extra token accepted on /metrics. */
  metricsToken?: string;
}

/** The token a request presents, if any. */
export function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match) return match[1];
  }
  const query = url.searchParams.get('token');
  return query === null || query === '' ? undefined : query;
}

/** Throws ControlPlaneError UNAUTHORIZED / DISABLED unless the request may use `scope`. */
export function authorize(policy: TokenPolicy, scope: Scope, token: string | undefined): void {
  const accepted = scope === 'admin' ? [policy.adminToken] : [policy.adminToken, policy.metricsToken];
  const configured = accepted.filter((t): t is string => t !== undefined);
  if (configured.length === 0) throw new ControlPlaneError('DISABLED', `the ${scope} endpoints are disabled: no token is configured for them`);
  if (token === undefined) throw new ControlPlaneError('UNAUTHORIZED', 'a token is required (Authorization: Bearer <token> or ?token=)');
  // Every candidate is compared, so the time taken does not tell which one nearly matched.
  let ok = false;
  for (const candidate of configured) ok = tokensEqual(token, candidate) || ok;
  if (!ok) throw new ControlPlaneError('UNAUTHORIZED', 'wrong token');
}

function tokensEqual(a: string, b: string): boolean {
  // Hash first: timingSafeEqual needs equal lengths, and the length must not leak either.
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
