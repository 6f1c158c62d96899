/**
 * The media server's own admin KS: made locally from the admin secret (no API round trip, so
 * it works even when Kaltura is slow), renewed before it expires and on demand after Kaltura
 * answers INVALID_KS.
 *
 * The secret lives in a module-private WeakMap, not on the object, so JSON.stringify,
 * util.inspect, structured logging or an error that captures `this` can never reveal it.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { KsError } from './errors';
import { generateKs, type KsVersion } from './ks';
import { SessionType } from './types';

/**
 * The old Kaltura media server (kaltura/media-server, KalturaAPI.generateClientSession) signed
 * every admin KS with this fixed session key, "so all (within a DC) will be directed to the same
 * sphinx to prevent synchronization problems". Keeping the same value keeps that behaviour.
 */
export const PERMANENT_SESSION_KEY = 'kalturaWowzaPermanentSessionKey';

export interface AdminSessionOptions {
  secret: string;
  partnerId: number;
  /** Default `MediaServer` (the old server's user). */
  userId?: string;
  /** KS lifetime; default 86400 s. */
  expirySeconds?: number;
  /** Renew when fewer than this many seconds are left; default 3600 (the old server: every 23 h). */
  renewMarginSeconds?: number;
  /** Default 2. */
  version?: KsVersion;
  /** Default `disableentitlement,sessionkey:<sessionKey>`. */
  privileges?: string;
  /** Used in the default privileges; default PERMANENT_SESSION_KEY. */
  sessionKey?: string;
  /** Unix seconds; default the wall clock. */
  clock?: () => number;
}

export type RenewalReason = 'expiring' | 'invalidated';

export interface RenewedEvent {
  /** Unix seconds. */
  expiresAt: number;
  renewals: number;
  reason: RenewalReason;
}

interface AdminSessionEvents {
  renewed: [RenewedEvent];
}

const secrets = new WeakMap<AdminSession, string>();

export class AdminSession extends EventEmitter<AdminSessionEvents> {
  readonly partnerId: number;
  readonly userId: string;
  readonly expirySeconds: number;
  readonly renewMarginSeconds: number;
  readonly version: KsVersion;
  readonly privileges: string;
  private readonly clock: () => number;
  private current: string;
  private currentExpiresAt: number;
  private renewalCount = 0;
  private invalidated = false;

  constructor(opts: AdminSessionOptions) {
    super();
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) {
      throw new KsError('KS_INVALID_OPTIONS', 'admin secret is empty');
    }
    this.partnerId = opts.partnerId;
    this.userId = opts.userId ?? 'MediaServer';
    this.expirySeconds = opts.expirySeconds ?? 86400;
    this.renewMarginSeconds = opts.renewMarginSeconds ?? 3600;
    this.version = opts.version ?? 2;
    this.privileges = opts.privileges ?? `disableentitlement,sessionkey:${opts.sessionKey ?? PERMANENT_SESSION_KEY}`;
    this.clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
    if (!(this.renewMarginSeconds >= 0 && this.renewMarginSeconds < this.expirySeconds)) {
      // Otherwise every ks() call would mint a new KS.
      throw new KsError('KS_INVALID_OPTIONS', 'renewMarginSeconds must be >= 0 and below expirySeconds');
    }
    secrets.set(this, opts.secret);
    // Made eagerly so that bad options fail at start-up, not on the first publish.
    const { ks, expiresAt } = this.mint();
    this.current = ks;
    this.currentExpiresAt = expiresAt;
  }

  /** The current KS, renewed first when it is within the margin of expiry or was invalidated. */
  ks(): string {
    const now = this.clock();
    if (this.invalidated) this.renew('invalidated');
    else if (now >= this.currentExpiresAt - this.renewMarginSeconds) this.renew('expiring');
    return this.current;
  }

  /**
   * Force a renewal on the next ks() (Kaltura said INVALID_KS). Pass the KS that was refused:
   * when several calls fail with the same stale KS at once, only the first renews.
   */
  invalidate(refusedKs?: string): void {
    if (refusedKs !== undefined && refusedKs !== this.current) return;
    this.invalidated = true;
  }

  /** Unix seconds at which the current KS expires. */
  get expiresAt(): number {
    return this.currentExpiresAt;
  }

  /** KS renewals since construction (the first KS is not counted). */
  get renewals(): number {
    return this.renewalCount;
  }

  toJSON(): Record<string, unknown> {
    return {
      partnerId: this.partnerId,
      userId: this.userId,
      version: this.version,
      expiresAt: this.currentExpiresAt,
      renewals: this.renewalCount,
    };
  }

  [inspect.custom](): string {
    return `AdminSession ${JSON.stringify(this.toJSON())}`;
  }

  private renew(reason: RenewalReason): void {
    const { ks, expiresAt } = this.mint();
    this.current = ks;
    this.currentExpiresAt = expiresAt;
    this.invalidated = false;
    this.renewalCount++;
    this.emit('renewed', { expiresAt, renewals: this.renewalCount, reason });
  }

  private mint(): { ks: string; expiresAt: number } {
    const now = this.clock();
    const ks = generateKs({
      secret: secrets.get(this) as string,
      partnerId: this.partnerId,
      type: SessionType.Admin,
      userId: this.userId,
      expirySeconds: this.expirySeconds,
      privileges: this.privileges,
      version: this.version,
      now,
    });
    return { ks, expiresAt: Math.floor(now + this.expirySeconds) };
  }
}
