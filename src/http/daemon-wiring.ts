/**
 * How the daemon starts its control plane: one call with the daemon's parts.
 *
 * Token policy (README "Diagnostics, metrics, dashboard"):
 * - `admin.token` set: every endpoint is served; `/metrics` also takes `metrics.token`.
 * - only `metrics.token` set: `/metrics` is served, the admin endpoints answer 403 DISABLED.
 * - neither, outside dev mode: the control plane does not start (a warning says so).
 * - dev mode without `admin.token`: a random token is generated; the banner prints the
 *   dashboard URL with it. A busy admin port in dev mode is a warning, not a failure.
 */
import { randomBytes } from 'node:crypto';
import type { KliveConfig } from '../config';
import { nativeVersion } from '../ingest/native';
import type { Logger } from '../log';
import { ControlPlane } from './control-plane';
import type { ErrorLog } from './error-log';
import type { AdminSessionSource, AuthSource, IngestSource, KalturaSource, TranscodeSource } from './sources';

export interface DaemonControlPlaneInput {
  config: KliveConfig;
  dev: boolean;
  version: string;
  ingest: IngestSource & { readonly port: number; readonly httpPort: number | undefined };
  auth: AuthSource;
  transcodes: TranscodeSource;
  kaltura: { client: KalturaSource; session: AdminSessionSource };
  errors: ErrorLog;
  log: Logger;
}

/** Starts the control plane per the token policy; undefined when it is off. */
export async function startDaemonControlPlane(input: DaemonControlPlaneInput): Promise<ControlPlane | undefined> {
  const { config, dev, log } = input;
  let adminToken = config.admin.token;
  const metricsToken = config.metrics.token;
  if (adminToken === undefined && dev) adminToken = randomBytes(18).toString('base64url');
  if (adminToken === undefined && metricsToken === undefined) {
    log.warn('diagnostics, metrics and dashboard are off: set admin.token (KLIVE_ADMIN_TOKEN) to enable them');
    return undefined;
  }
  try {
    const plane = await ControlPlane.start({
      host: config.admin.host,
      port: config.admin.port,
      tokens: { adminToken, metricsToken },
      sources: { ingest: input.ingest, auth: input.auth, transcodes: input.transcodes, kaltura: input.kaltura.client, session: input.kaltura.session },
      facts: {
        version: input.version,
        nativeVersion: nativeVersion(),
        hostname: config.hostname,
        applicationName: config.applicationName,
        workMode: config.workMode,
        startedAt: Date.now(),
        rtmpPort: input.ingest.port,
        httpPort: input.ingest.httpPort,
        kalturaServiceUrl: config.kaltura.serviceUrl,
      },
      errors: input.errors,
      secrets: [config.kaltura.adminSecret, config.limitOrigin.headerValue].filter((s): s is string => s !== undefined),
      log,
    });
    log.info('control plane listening', { url: plane.url, dashboard: plane.dashboardUrl(), admin: adminToken !== undefined, metrics: true });
    return plane;
  } catch (error) {
    if (!dev) throw error;
    log.warn('control plane not started', { error });
    return undefined;
  }
}
