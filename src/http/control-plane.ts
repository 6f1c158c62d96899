/**
 * The control-plane HTTP server: diagnostics (JSON), Prometheus metrics and the dashboard, on
 * its own port (`admin.port`, default 8086 like Wowza's admin HTTP), separate from the
 * RTMP/HLS port so it can be firewalled apart.
 *
 * Routes:
 * - `GET /diagnostics/entries | errors | info`, `GET|POST /diagnostics/killConnection?clientId=N`:
 *   admin token.
 * - `GET /metrics`: metrics token or admin token.
 * - `GET /dashboard` (+ `/dashboard/app.js`, `app.css`, `hls.min.js`): static, no data, no
 *   token needed to load; the page asks for the token and keeps it in sessionStorage.
 * - `GET /healthz`: `{"status":"ok"}`, no token (load balancers).
 *
 * Callers' obligations: close() on shutdown (it also detaches the listeners it added to the
 * sources).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, maskString, type Logger } from '../log';
import { authorize, presentedToken, type Scope, type TokenPolicy } from './auth';
import { DASHBOARD_CSP, loadDashboardAssets, type Asset } from './dashboard';
import { buildEntries, buildErrors, buildInfo, type DiagnosticsContext, type ServerFacts } from './diagnostics';
import { ErrorLog, type ErrorDetails, type ErrorKind } from './error-log';
import { ControlPlaneError } from './errors';
import { MetricsCollector } from './metrics';
import { ProcessUsageSampler } from './process-usage';
import { StreamRates } from './rates';
import { redirect, sendError, sendJson, sendText, type ResponseContext } from './respond';
import { NO_LIVE_STATUS, NO_RECORDING, type ControlPlaneSources, type LiveStatusSource, type RecordingStatusSource } from './sources';

export interface ControlPlaneOptions {
  host: string;
  /** 0 lets the OS pick. */
  port: number;
  tokens: TokenPolicy;
  sources: ControlPlaneSources;
  /** Facts for /diagnostics/info (the admin port is filled in here). */
  facts: Omit<ServerFacts, 'adminPort'>;
  /** Shared with the modules that report errors; default a new one. */
  errors?: ErrorLog;
  /** Exact strings never to send (the admin secret…); the tokens are added. */
  secrets?: readonly string[];
  /** Default process and Node.js metrics in /metrics; default true. */
  defaultMetrics?: boolean;
  log?: Logger;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, ctx: ResponseContext) => void | Promise<void>;

interface Route {
  scope: Scope | 'public';
  methods: readonly string[];
  handle: Handler;
}

export class ControlPlane {
  readonly errors: ErrorLog;
  private readonly log: Logger;
  private readonly metrics: MetricsCollector;
  private readonly diagnostics: DiagnosticsContext;
  private readonly routes: Map<string, Route>;
  private readonly assets: Map<string, Asset>;
  private readonly secrets: string[];
  private readonly unsubscribe: Array<() => void> = [];
  private recording: RecordingStatusSource = NO_RECORDING;
  private live: LiveStatusSource = NO_LIVE_STATUS;
  private server: Server | undefined;
  private boundPort = 0;
  private closing: Promise<void> | undefined;

  private constructor(private readonly opts: ControlPlaneOptions) {
    this.log = opts.log ?? silentLogger;
    this.errors = opts.errors ?? new ErrorLog();
    this.secrets = [...(opts.secrets ?? []), opts.tokens.adminToken, opts.tokens.metricsToken].filter((s): s is string => typeof s === 'string' && s !== '');
    const rates = new StreamRates();
    this.diagnostics = {
      sources: opts.sources,
      recording: () => this.recording,
      live: () => this.live,
      errors: this.errors,
      rates,
      usage: new ProcessUsageSampler(),
      facts: () => ({ ...opts.facts, adminPort: this.boundPort }),
    };
    this.metrics = new MetricsCollector({ sources: opts.sources, recording: () => this.recording, live: () => this.live, errors: this.errors, rates, defaultMetrics: opts.defaultMetrics });
    this.assets = loadDashboardAssets();
    this.routes = this.routeTable();
    this.watchSources();
  }

  /** Bind and serve. Throws ControlPlaneError START_FAILED when the port cannot be bound. */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const plane = new ControlPlane(opts);
    try {
      await plane.listen();
    } catch (cause) {
      plane.stopWatching();
      throw new ControlPlaneError('START_FAILED', `cannot listen on ${opts.host}:${opts.port}: ${(cause as Error).message}`, { cause });
    }
    return plane;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `http://<host>:<port>` as a browser on this machine reaches it. */
  get url(): string {
    const h = this.opts.host;
    const host = h === '0.0.0.0' || h === '::' || h === '' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
    return `http://${host}:${this.boundPort}`;
  }

  /** The dashboard URL; with `withToken`, carrying the admin token (for the dev banner only). */
  dashboardUrl(withToken = false): string {
    const token = this.opts.tokens.adminToken;
    return withToken && token !== undefined ? `${this.url}/dashboard?token=${encodeURIComponent(token)}` : `${this.url}/dashboard`;
  }

  /** Report an error to /diagnostics/errors (and the errors_total metric). */
  recordError(kind: ErrorKind, message: string, details?: ErrorDetails): void {
    this.errors.record(kind, message, details);
  }

  /** The recorder reports its state through this (default: no recording, zero deliveries). */
  setRecordingSource(source: RecordingStatusSource): void {
    this.recording = source;
  }

  /** The Kaltura registration reports each entry's live status through this. */
  setLiveStatusSource(source: LiveStatusSource): void {
    this.live = source;
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopWatching();
      const server = this.server;
      if (!server) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private routeTable(): Map<string, Route> {
    const d = this.diagnostics;
    const json = (build: () => unknown): Handler => (_req, res, _url, ctx) => sendJson(res, ctx, 200, build());
    const dashboard: Handler = (_req, res, url, ctx) => this.serveAsset(res, url.pathname, ctx);
    const routes = new Map<string, Route>([
      ['/diagnostics/entries', { scope: 'admin', methods: ['GET'], handle: json(() => buildEntries(d)) }],
      ['/diagnostics/errors', { scope: 'admin', methods: ['GET'], handle: json(() => buildErrors(d)) }],
      ['/diagnostics/info', { scope: 'admin', methods: ['GET'], handle: json(() => buildInfo(d)) }],
      // GET as the old server had it (curl-friendly); POST for the dashboard.
      ['/diagnostics/killConnection', { scope: 'admin', methods: ['GET', 'POST'], handle: (req, res, url, ctx) => this.killConnection(res, url, ctx) }],
      ['/metrics', { scope: 'metrics', methods: ['GET'], handle: async (_req, res, _url, ctx) => sendText(res, ctx, 200, this.metrics.contentType, await this.metrics.render(), { 'Cache-Control': 'no-store' }) }],
      ['/healthz', { scope: 'public', methods: ['GET'], handle: json(() => ({ status: 'ok' })) }],
      ['/', { scope: 'public', methods: ['GET'], handle: (_req, res, _url, ctx) => redirect(res, ctx, '/dashboard') }],
    ]);
    for (const path of this.assets.keys()) routes.set(path, { scope: 'public', methods: ['GET'], handle: dashboard });
    routes.set('/dashboard/', { scope: 'public', methods: ['GET'], handle: (_req, res, _url, ctx) => redirect(res, ctx, '/dashboard') });
    return routes;
  }

  private killConnection(res: ServerResponse, url: URL, ctx: ResponseContext): void {
    const raw = url.searchParams.get('clientId');
    if (raw === null || !/^\d{1,15}$/.test(raw)) throw new ControlPlaneError('BAD_REQUEST', 'clientId must be a connection id (an integer)');
    const clientId = Number(raw);
    const { ingest, auth } = this.opts.sources;
    const conn = ingest.stats().connections.find((c) => c.id === clientId);
    if (!conn || !ingest.killConnection(clientId)) throw new ControlPlaneError('UNKNOWN_CONNECTION', `no open connection ${clientId}`);
    const entryId = auth.entryOf(clientId);
    this.log.info('connection killed from the control plane', { connectionId: clientId, entryId, streamName: conn.streamName, remoteAddress: conn.remoteAddress });
    sendJson(res, ctx, 200, { clientId, killed: true, role: conn.role, streamName: conn.streamName ?? null, entryId: entryId ?? null, remoteAddress: conn.remoteAddress });
  }

  private serveAsset(res: ServerResponse, path: string, ctx: ResponseContext): void {
    const asset = this.assets.get(path);
    if (!asset) throw new ControlPlaneError('NOT_FOUND', `no such file: ${path}`);
    const extra: Record<string, string> = { 'Cache-Control': asset.cache };
    if (path === '/dashboard') extra['Content-Security-Policy'] = DASHBOARD_CSP;
    sendText(res, ctx, 200, asset.contentType, asset.body, extra);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    const ctx: ResponseContext = { hostname: this.opts.facts.hostname, secrets: this.secrets, head };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://control-plane');
    } catch {
      sendError(res, ctx, new ControlPlaneError('BAD_REQUEST', 'malformed request URL'));
      return;
    }
    try {
      const route = this.routes.get(url.pathname);
      if (!route) throw new ControlPlaneError('NOT_FOUND', `no such endpoint: ${url.pathname}`);
      const method = head ? 'GET' : (req.method ?? 'GET');
      if (!route.methods.includes(method)) throw new ControlPlaneError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
      if (route.scope !== 'public') authorize(this.opts.tokens, route.scope, presentedToken(req, url));
      await route.handle(req, res, url, ctx);
    } catch (error) {
      const err = error instanceof ControlPlaneError ? error : new ControlPlaneError('INTERNAL', 'internal error', { cause: error });
      if (err.code === 'INTERNAL') this.log.error('control plane request failed', { path: url.pathname, error });
      else this.log.debug('control plane request refused', { path: maskString(url.pathname + url.search), code: err.code });
      if (!res.headersSent) sendError(res, ctx, err);
      else res.destroy();
    }
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    // Slow or idle clients must not pin sockets.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        server.on('error', (error) => this.log.error('control plane server error', { error }));
        this.boundPort = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Transcoder exits and Kaltura failures go to the error log as they happen. */
  private watchSources(): void {
    const { transcodes, kaltura } = this.opts.sources;
    this.unsubscribe.push(
      transcodes.onEvent((e) => {
        if (e.type === 'startFailed') {
          this.errors.record('transcoder', `transcoder pipeline failed to start: ${e.message}`, { entryId: e.entryId, streamName: e.streamName });
        } else if (e.exit.restarting) {
          const how = e.exit.signal ? `signal ${e.exit.signal}` : `code ${e.exit.code}`;
          this.errors.record('transcoder', `ffmpeg exited unexpectedly (${how}) after ${Math.round(e.exit.ranForMs / 1000)} s; restarting in ${e.exit.restartInMs} ms`, {
            entryId: e.entryId,
            streamName: e.streamName,
            pid: e.exit.pid,
            stderrTail: e.exit.stderrTail.split('\n').slice(-5).join('\n'),
          });
        }
      }),
      kaltura.observe((o) => {
        if (o.kind !== 'failure') return;
        // Kaltura refusing a publisher (wrong token, unknown entry…) is a refusal, listed as such.
        if (!o.transport && o.service.toLowerCase() === 'livestream' && o.action === 'authenticate') return;
        this.errors.record('kaltura', `${o.service}.${o.action} failed: ${o.code}: ${o.message}`, { service: o.service, action: o.action, code: o.code });
      }),
    );
  }

  private stopWatching(): void {
    for (const f of this.unsubscribe.splice(0)) f();
    this.metrics.close();
  }
}
