/**
 * The auth policy's defences, without sockets (a scripted Kaltura and a manual clock): per-key
 * blocks, the attempt budget, the unknown-entry cache, admission from Kaltura's last decision
 * while it is unreachable with its re-check, and the decision store across a restart.
 * `attack-auth.spec.ts` runs the same properties end to end with real encoders.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';

import { join } from 'node:path';
import { tempDir } from './helpers/media';
import { clientNetwork, AttemptBudget } from '../src/kaltura/auth';
import { DecisionStore } from '../src/kaltura/decision-store';
import { KalturaApiError, KalturaNetworkError } from '../src/kaltura/errors';
import { withLastKnownPlans } from '../src/kaltura/last-known-plans';
import { isKalturaUnreachable } from '../src/kaltura/unreachable';
import { LogThrottle } from '../src/log-throttle';
import { ENTRY, OTHER, setup, url } from './helpers/fake-kaltura-auth';

const down = () => new KalturaNetworkError({ code: 'HTTP_STATUS', status: 503, message: 'HTTP 503 from livestream.authenticate', service: 'livestream', action: 'authenticate', attempts: 1 });

function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - started > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

test('100 wrong tokens on an entry: the right token is admitted at once, and Kaltura hears of at most the budget', async (t) => {
  const { api, connect, connectFrom } = setup({ attemptsPerClientPerMinute: 10, attemptsPerMinute: 1000 });
  t.like(await connect(url('good')), { accept: true });
  const refused = [];
  for (let i = 0; i < 100; i++) refused.push(await connectFrom('10.9.9.9:1000', url(`wrong${i}`)));
  t.true(refused.every((d) => !d.accept));
  const codes = new Set(refused.map((d) => (d.accept ? '' : d.error.code)));
  t.deepEqual([...codes].sort(), ['KALTURA_REFUSED', 'RATE_LIMITED']);
  t.is(api.of('authenticate').filter((c) => c.token !== 'good').length, 10, 'the attacker paid for 10 calls, no more');
  const last = refused[99];
  t.regex(last.accept ? '' : last.error.message, /^Too many authentication attempts from 10\.9\.9\.9\. Try to connect in \d+ seconds$/);
  // The real encoder, even from the attacker's own address (one NAT), is never held up.
  t.like(await connectFrom('10.9.9.9:1001', url('good')), { accept: true });
  t.like(await connect(url('good')), { accept: true });
});

test('a token Kaltura admitted is never blocked: a refusal of it is asked again, and it is no longer admitted stale', async (t) => {
  const { api, clock, connect } = setup();
  t.like(await connect(url('good')), { accept: true });
  clock.ms += 10_000;
  api.entries.set(ENTRY, { partnerId: 102, token: 'rotated' });
  const first = await connect(url('good'));
  t.like(first.accept ? {} : first.error, { code: 'KALTURA_REFUSED', kalturaCode: 'LIVE_STREAM_INVALID_TOKEN' });
  const second = await connect(url('good'));
  t.like(second.accept ? {} : second.error, { code: 'KALTURA_REFUSED' }, 'asked again, not BLOCKED');
  t.is(api.of('authenticate').length, 3);
  api.failWith = down();
  const during = await connect(url('good'));
  t.like(during.accept ? {} : during.error, { code: 'KALTURA_UNAVAILABLE' }, 'a refused key is not admitted stale');
});

test('an unknown entry costs one Kaltura call per minute per (URL partner, entry); a wrong partner does not hide the real entry', async (t) => {
  const { api, clock, connect } = setup();
  for (let i = 0; i < 20; i++) {
    const d = await connect(url(`t${i}`, '0_nosuch12'));
    t.false(d.accept);
  }
  t.is(api.of('authenticate').length, 1);
  // Partner 999 makes Kaltura's partner filter answer ENTRY_ID_NOT_FOUND for a real entry.
  t.false((await connect(url('good', ENTRY, 999))).accept);
  t.false((await connect(url('x', ENTRY, 999))).accept);
  t.like(await connect(url('good', ENTRY, 102)), { accept: true });
  clock.ms += 60_000;
  await connect(url('t0', '0_nosuch12'));
  t.is(api.of('authenticate').filter((c) => c.entryId === '0_nosuch12').length, 2);
});

test('a flood of random entry ids from many addresses: Kaltura calls bounded by the global budget', async (t) => {
  const { api, connectFrom, connect } = setup({ attemptsPerClientPerMinute: 5, attemptsPerMinute: 20 });
  t.like(await connect(url('good')), { accept: true });
  const before = api.of('authenticate').length + api.of('get').length;
  for (let i = 0; i < 300; i++) {
    const entry = `0_${(i * 7919).toString(36).padStart(8, 'x').slice(-8)}`;
    await connectFrom(`10.0.${i % 50}.${i % 200}:9`, url('tok', entry, 102));
  }
  const made = api.of('authenticate').length + api.of('get').length - before;
  t.true(made <= 20, `${made} Kaltura authentications`);
  t.like(await connect(url('good')), { accept: true });
});

test('Kaltura unreachable: a key it admitted is admitted from that decision, announced, re-checked and confirmed when it answers', async (t) => {
  const { api, auth, clock, connect, lastId } = setup({ recheckIntervalMs: 5, recheckMaxIntervalMs: 20 });
  t.like(await connect(url('good')), { accept: true, via: 'kaltura' });
  const stale: number[] = [];
  const confirmed: number[] = [];
  auth.on('stale', (e) => stale.push(e.connectionId));
  auth.on('confirmed', (e) => confirmed.push(e.connectionId));
  clock.ms += 3600_000;
  api.failWith = down();
  const d = await connect(url('good'));
  t.like(d, { accept: true, via: 'stale', entryId: ENTRY });
  const id = lastId();
  t.deepEqual(stale, [id]);
  t.like(auth.connection(id), { via: 'stale', awaitingRecheck: true, partnerId: 102 });
  t.like(auth.stats(), { staleAdmissions: 1, staleAwaitingRecheck: 1 });
  // Never for a key Kaltura did not admit, nor for another index.
  t.false((await connect(url('other'))).accept);
  t.false((await connect(url('good', ENTRY, 102, 1))).accept);
  const probesWhileDown = api.of('authenticate').length;
  await until('a few probes', () => api.of('authenticate').length >= probesWhileDown + 2);
  api.failWith = undefined;
  await until('the confirmation', () => confirmed.length === 1);
  t.like(auth.connection(id), { via: 'stale', awaitingRecheck: false });
  t.like(auth.stats(), { staleConfirmed: 1, staleAwaitingRecheck: 0, staleRevoked: 0 });
});

test('Kaltura refusing a stale admission once it answers revokes it (the daemon closes the connection)', async (t) => {
  const { api, auth, clock, connect, lastId } = setup({ recheckIntervalMs: 5 });
  await connect(url('good'));
  clock.ms += 10_000;
  api.failWith = down();
  t.like(await connect(url('good')), { accept: true, via: 'stale' });
  const id = lastId();
  const revoked: Array<{ connectionId: number; code: string }> = [];
  auth.on('revoked', (e) => revoked.push({ connectionId: e.connectionId, code: e.error.code }));
  api.entries.set(ENTRY, { partnerId: 102, token: 'rotated' });
  api.failWith = undefined;
  await until('the revocation', () => revoked.length === 1);
  t.deepEqual(revoked, [{ connectionId: id, code: 'KALTURA_REFUSED' }]);
  t.like(auth.refusals().at(-1), { stage: 'recheck', connectionId: id, kalturaCode: 'LIVE_STREAM_INVALID_TOKEN' });
  t.like(auth.stats(), { staleRevoked: 1, staleAwaitingRecheck: 0 });
});

test('stale admission: only for unreachability, within auth.staleAdmitSeconds, and off at 0', async (t) => {
  {
    const { api, clock, connect } = setup({ staleAdmitMs: 3600_000 });
    await connect(url('good'));
    clock.ms += 10_000;
    api.failWith = new KalturaApiError({ code: 'LIVE_STREAM_INVALID_TOKEN', message: 'no', service: 'livestream', action: 'authenticate' });
    t.false((await connect(url('good'))).accept, 'a definite refusal is never bridged');
    api.failWith = down();
    clock.ms += 3590_000;
    t.false((await connect(url('good'))).accept, 'older than the window');
  }
  {
    const { api, clock, connect } = setup({ staleAdmitMs: 0 });
    await connect(url('good'));
    clock.ms += 10_000;
    api.failWith = down();
    t.false((await connect(url('good'))).accept, 'stale admission off');
  }
  {
    // The decision deadline counts as unreachable.
    const { api, clock, connect } = setup({ decisionTimeoutMs: 50 });
    await connect(url('other', OTHER, 103));
    t.like(await connect(url('other', OTHER, 103)), { accept: true, via: 'cache' }, 'within 10 s the success is simply reused');
    clock.ms += 10_000;
    api.hang.add(OTHER);
    t.like(await connect(url('other', OTHER, 103)), { accept: true, via: 'stale' }, 'Kaltura hanging past the deadline');
  }
});

test('the decision store survives a restart (no token in the file) and bridges an outage for a reconnecting encoder', async (t) => {
  const dir = tempDir('decisions');
  const file = join(dir, 'kaltura-decisions.json');
  const secret = 'the-admin-secret-of-the-test';
  const clock = { ms: 1_700_000_000_000 };
  const now = () => clock.ms;
  const first = setup({ store: DecisionStore.open({ file, secret, maxAgeMs: 86_400_000, now }) }, clock);
  t.like(await first.connect(url('good')), { accept: true, via: 'kaltura' });
  await (first.auth as unknown as { store: DecisionStore }).store.close();
  const text = readFileSync(file, 'utf8');
  t.false(text.includes('good'), 'tokens are keyed digests');
  t.true(text.includes(ENTRY));
  // "Restart" while Kaltura is down.
  clock.ms += 600_000;
  const second = setup({ store: DecisionStore.open({ file, secret, maxAgeMs: 86_400_000, now }) }, clock);
  second.api.failWith = down();
  t.like(await second.connect(url('good')), { accept: true, via: 'stale' });
  t.false((await second.connect(url('bad'))).accept);
  // Another admin secret (another account): nothing matches.
  const third = setup({ store: DecisionStore.open({ file, secret: 'another-secret', maxAgeMs: 86_400_000, now }) }, clock);
  third.api.failWith = down();
  t.false((await third.connect(url('good'))).accept);
  second.auth.close();
  first.auth.close();
  third.auth.close();
});

test('transcode plans: the last answer stands in only while Kaltura is unreachable', async (t) => {
  const store = DecisionStore.open({ secret: 's', maxAgeMs: 86_400_000 });
  let fail: Error | undefined;
  let calls = 0;
  const api = withLastKnownPlans(
    {
      async conversionProfileServe() {
        calls++;
        if (fail) throw fail;
        return '<Root>plan</Root>';
      },
    },
    store,
    { maxAgeMs: 3600_000 },
  );
  t.is(await api.conversionProfileServe('0_rkij47dr_1', 'h'), '<Root>plan</Root>');
  fail = down();
  t.is(await api.conversionProfileServe('0_rkij47dr_1', 'h'), '<Root>plan</Root>');
  await t.throwsAsync(api.conversionProfileServe('0_rkij47dr_2', 'h'), { message: /503/ }, 'never fetched: nothing to stand in');
  // The one request per publish carries the source's metadata: bridged all the same.
  t.is(await api.conversionProfileServe('0_rkij47dr_1', 'h', { width: 1 }), '<Root>plan</Root>');
  fail = new KalturaApiError({ code: 'ENTRY_ID_NOT_FOUND', message: 'gone', service: 'wowza_liveconversionprofile', action: 'serve' });
  await t.throwsAsync(api.conversionProfileServe('0_rkij47dr_1', 'h'), { message: 'gone' });
  t.is(store.stats().staleUses.plan, 2);
  t.is(calls, 5);

  // Kaltura hanging: with a last-known plan at hand, it is not waited for beyond answerWithinMs.
  let hang = false;
  const slow = withLastKnownPlans(
    {
      async conversionProfileServe() {
        if (!hang) return '<Root>first</Root>';
        await new Promise((resolve) => setTimeout(resolve, 5000).unref());
        return '<Root>late</Root>';
      },
    },
    store,
    { maxAgeMs: 3600_000, answerWithinMs: 50 },
  );
  t.is(await slow.conversionProfileServe('0_rkij47dr_3', 'h'), '<Root>first</Root>');
  hang = true;
  t.is(await slow.conversionProfileServe('0_rkij47dr_3', 'h'), '<Root>first</Root>', 'the last answer, not the late one');
  t.is(store.stats().staleUses.plan, 3);
});

test('what counts as unreachable', (t) => {
  const net = (code: 'TIMEOUT' | 'NETWORK' | 'HTTP_STATUS' | 'BAD_RESPONSE', status?: number) => new KalturaNetworkError({ code, status, message: '', service: 's', action: 'a', attempts: 1 });
  t.true(isKalturaUnreachable(net('TIMEOUT')));
  t.true(isKalturaUnreachable(net('NETWORK')));
  t.true(isKalturaUnreachable(net('BAD_RESPONSE')));
  t.true(isKalturaUnreachable(net('HTTP_STATUS', 503)));
  t.true(isKalturaUnreachable(net('HTTP_STATUS', 429)));
  t.false(isKalturaUnreachable(net('HTTP_STATUS', 404)));
  t.true(isKalturaUnreachable(new KalturaApiError({ code: 'INTERNAL_SERVERL_ERROR', message: '', service: 's', action: 'a' })));
  t.false(isKalturaUnreachable(new KalturaApiError({ code: 'LIVE_STREAM_INVALID_TOKEN', message: '', service: 's', action: 'a' })));
  t.false(isKalturaUnreachable(new Error('x')));
});

test('attempt budget: per IPv4 address, per IPv6 /64, refilled over a minute', (t) => {
  t.is(clientNetwork('::ffff:10.1.2.3'), '10.1.2.3');
  t.is(clientNetwork('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.is(clientNetwork('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  const budget = new AttemptBudget({ perClientPerMinute: 2, perMinute: 100 });
  t.true(budget.take('2001:db8:1:2::1', 0).ok);
  t.true(budget.take('2001:db8:1:2::2', 0).ok);
  t.like(budget.take('2001:db8:1:2::3', 0), { ok: false, scope: 'client', retryInMs: 30_000 });
  t.true(budget.take('2001:db8:1:3::1', 0).ok, 'another /64');
  t.true(budget.take('2001:db8:1:2::3', 30_000).ok, 'refilled');
  budget.sweep(10 * 60_000);
  t.is(budget.trackedClients, 0, 'full buckets are forgotten');
});

test('log throttle: a few lines per key per window, then a count of what was left out', (t) => {
  const throttle = new LogThrottle({ perWindow: 2, windowMs: 1000, maxKeys: 3 });
  const written = (key: string, now: number) => throttle.admit(key, now);
  t.deepEqual(written('a', 0), { suppressed: 0 });
  t.deepEqual(written('a', 1), { suppressed: 0 });
  t.is(written('a', 2), undefined);
  t.is(written('a', 3), undefined);
  t.deepEqual(written('a', 1000), { suppressed: 2 });
  // Past maxKeys, new keys share one budget.
  let lines = 0;
  for (let i = 0; i < 100; i++) if (written(`k${i}`, 1500)) lines++;
  t.true(lines <= 2 + 2, `${lines} lines for 100 keys`);
});
