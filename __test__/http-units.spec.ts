/** Unit tests of the control plane's pure parts: rates, error log, token checks, config keys. */
import test from 'ava';
import { validateConfig, redactConfig, ConfigError } from '../src/config';
import { authorize } from '../src/http/auth';
import { ErrorLog } from '../src/http/error-log';
import { ControlPlaneError } from '../src/http/errors';
import { StreamRates } from '../src/http/rates';
import { scrub } from '../src/http/respond';

test('StreamRates: windowed bit rate and fps, reset on republish, forgets ended streams', (t) => {
  let now = 0;
  const rates = new StreamRates(10_000, () => now);
  t.deepEqual(rates.sample([{ name: 'a', bytes: 0, videoFrames: 0 }]).get('a'), { bitrateBps: null, fps: null });
  now = 500;
  t.is(rates.sample([{ name: 'a', bytes: 62_500, videoFrames: 15 }]).get('a')?.bitrateBps, null, 'under 0.9 s: not yet');
  now = 2000;
  t.deepEqual(rates.sample([{ name: 'a', bytes: 250_000, videoFrames: 60 }]).get('a'), { bitrateBps: 1_000_000, fps: 30 });
  // 20 s later only the latest older sample and the new one count: the rate of that span.
  now = 22_000;
  t.deepEqual(rates.sample([{ name: 'a', bytes: 250_000 + 20 * 62_500, videoFrames: 60 + 20 * 25 }]).get('a'), { bitrateBps: 500_000, fps: 25 });
  // Counters going back: republished; starts over.
  now = 23_000;
  t.deepEqual(rates.sample([{ name: 'a', bytes: 10, videoFrames: 1 }]).get('a'), { bitrateBps: null, fps: null });
  now = 24_000;
  t.false(rates.sample([]).has('a'));
});

test('ErrorLog: bounded, newest kept, credentials masked, totals by kind', (t) => {
  const log = new ErrorLog(3, () => 1000);
  for (let i = 0; i < 5; i++) log.record('transcoder', `crash ${i}`);
  const r = log.record('recording', 'upload to https://h/x?t=abc&token=def failed', { entryId: '0_abcdefgh', adminSecret: 's3cr3t', nested: { ks: 'djJ8' } });
  t.deepEqual(log.list().map((e) => e.message), ['crash 3', 'crash 4', 'upload to https://h/x?t=***&token=*** failed']);
  t.is(r.entryId, '0_abcdefgh');
  t.deepEqual(r.details, { adminSecret: '***', nested: { ks: '***' } });
  t.like(log.countsByKind(), { transcoder: 5, recording: 1, kaltura: 0 });
});

test('authorize: scopes, disabled endpoints, wrong and missing tokens', (t) => {
  const policy = { adminToken: 'a'.repeat(20), metricsToken: 'm'.repeat(20) };
  t.notThrows(() => authorize(policy, 'admin', 'a'.repeat(20)));
  t.notThrows(() => authorize(policy, 'metrics', 'm'.repeat(20)));
  t.notThrows(() => authorize(policy, 'metrics', 'a'.repeat(20)));
  const code = (f: () => void) => (t.throws(f, { instanceOf: ControlPlaneError }) as ControlPlaneError).code;
  t.is(code(() => authorize(policy, 'admin', 'm'.repeat(20))), 'UNAUTHORIZED');
  t.is(code(() => authorize(policy, 'admin', undefined)), 'UNAUTHORIZED');
  t.is(code(() => authorize({ metricsToken: 'm'.repeat(20) }, 'admin', 'm'.repeat(20))), 'DISABLED');
  t.is(new ControlPlaneError('DISABLED', 'x').status, 403);
});

test('scrub removes exact secrets from a text', (t) => {
  t.is(scrub('a SECRETVALUE b SECRETVALUE', ['SECRETVALUE', 'xy']), 'a *** b ***');
});

test('config: admin and metrics keys, token rules, tokens masked by redactConfig', (t) => {
  const c = validateConfig({ admin: { token: 'abcdefghijklmnop' }, metrics: { token: 'qrstuvwxyz012345' } }, { dev: true });
  t.like(c.admin, { host: '0.0.0.0', port: 8086, token: 'abcdefghijklmnop' });
  t.like(redactConfig(c), { admin: { token: '***' }, metrics: { token: '***' } });
  const err = t.throws(() => validateConfig({ admin: { token: 'short' } }, { dev: true }), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /admin\.token: must be at least 16 characters/);
  t.throws(() => validateConfig({ admin: { token: 'has spaces in it, long enough' } }, { dev: true }), { instanceOf: ConfigError });
});
