/**
 * How many Kaltura authentications unproven publishers may cause: a token bucket per client
 * network (an IPv4 address, an IPv6 /64 — what one attacker typically holds) and one for all
 * clients together. Entry ids are public, so without this every connect with a new entry id
 * or token would cost Kaltura calls at the attacker's rate.
 *
 * Publishers Kaltura admitted recently never pay (the policy does not ask); neither do
 * requests answered from a cache or joining a call already in flight. Pure: the clock is
 * passed in.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface AttemptBudgetOptions {
  /** Per client network per minute (also the burst). */
  perClientPerMinute: number;
  /** All clients together per minute (also the burst). */
  perMinute: number;
}

export type BudgetCheck = { ok: true } | { ok: false; scope: 'client' | 'global'; retryInMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

const MINUTE_MS = 60_000;

export class AttemptBudget {
  private readonly clients = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(private readonly opts: AttemptBudgetOptions) {
    this.global = { tokens: opts.perMinute, at: 0 };
  }

  /** Spend one attempt for `ip` (both buckets), or say how long until there is one. */
  take(ip: string, now: number): BudgetCheck {
    const key = clientNetwork(ip);
    const client = this.clients.get(key) ?? { tokens: this.opts.perClientPerMinute, at: now };
    refill(client, this.opts.perClientPerMinute, now);
    refill(this.global, this.opts.perMinute, now);
    if (client.tokens < 1) return { ok: false, scope: 'client', retryInMs: untilOne(client, this.opts.perClientPerMinute) };
    if (this.global.tokens < 1) return { ok: false, scope: 'global', retryInMs: untilOne(this.global, this.opts.perMinute) };
    client.tokens -= 1;
    this.global.tokens -= 1;
    this.clients.set(key, client);
    return { ok: true };
  }

  /** Forget full buckets (equivalent to absent): memory follows recent clients only. */
  sweep(now: number): void {
    for (const [key, bucket] of this.clients) {
      refill(bucket, this.opts.perClientPerMinute, now);
      if (bucket.tokens >= this.opts.perClientPerMinute) this.clients.delete(key);
    }
  }

  get trackedClients(): number {
    return this.clients.size;
  }
}

function refill(bucket: Bucket, perMinute: number, now: number): void {
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(perMinute, bucket.tokens + (elapsed * perMinute) / MINUTE_MS);
  bucket.at = now;
}

function untilOne(bucket: Bucket, perMinute: number): number {
  return Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / perMinute);
}

/** `1.2.3.4` → itself; `::ffff:1.2.3.4` → `1.2.3.4`; an IPv6 address → its /64. */
export function clientNetwork(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right];
  return groups.map((g) => (g.includes('.') ? g : g.toLowerCase().replace(/^0+(?=.)/, '')));
}
