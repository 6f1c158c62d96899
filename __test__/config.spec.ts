/**
 * Configuration: defaults, file < environment < command line, errors that name the key and
 * its source, and the admin secret never printed. Plus the logger's formats and masking.
 */
import test from 'ava';
import { chmodSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseOverride, redactConfig } from '../src/config';
import { fullyQualifiedHostname, mediaServerClientTag } from '../src/hostname';
import { createLogger, type LogSink } from '../src/log';
import { tempDir } from './helpers/media';

const dir = tempDir('config');
const file = (name: string, body: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
};
const REQUIRED = { kaltura: { serviceUrl: 'https://www.kaltura.com', adminSecret: 'file-secret-123' } };

function configError(t: { throws: (fn: () => unknown, expect: { instanceOf: typeof ConfigError }) => unknown }, fn: () => unknown): ConfigError {
  return t.throws(fn, { instanceOf: ConfigError }) as ConfigError;
}

test('defaults fill every key', (t) => {
  const c = loadConfig({ file: file('min.json', REQUIRED), env: {} });
  t.like(c, {
    workMode: 'kaltura',
    hostname: fullyQualifiedHostname(),
    applicationName: 'kLive',
    rtmp: { host: '0.0.0.0', port: 1935 },
    http: { host: '0.0.0.0' },
    maxPtsDriftMs: 10000,
    log: { level: 'info', format: 'auto' },
    recording: { fileGroup: 'kaltura', segmentDurationSeconds: 900 },
    auth: { decisionTimeoutMs: 10000 },
  });
  t.like(c.kaltura, { partnerId: -5, timeoutMs: 10000, ksVersion: 2, ksExpirySeconds: 86400, ksRenewMarginSeconds: 3600 });
  t.is(typeof c.recording.directory, 'string');
});

test('default hostname: the fully qualified name (`hostname -f`), else the OS hostname; clientTag MediaServer-<hostname>', (t) => {
  const short = hostname();
  const program = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  t.is(fullyQualifiedHostname(program('fqdn.sh', `[ "$1" = -f ] && echo ${short}.media.example.com`)), `${short}.media.example.com`);
  // A trailing dot (absolute DNS name) is dropped.
  t.is(fullyQualifiedHostname(program('dot.sh', `echo ${short}.media.example.com.`)), `${short}.media.example.com`);
  // A name for another host (an /etc/hosts line that maps the hostname to localhost) is not ours.
  t.is(fullyQualifiedHostname(program('other.sh', 'echo localhost.localdomain')), short);
  t.is(fullyQualifiedHostname(program('fails.sh', 'exit 1')), short);
  t.is(fullyQualifiedHostname(program('junk.sh', `echo "${short} x; rm"`)), short);
  t.is(fullyQualifiedHostname(join(dir, 'no-such-program')), short);
  // The system's own answer is the default.
  t.is(loadConfig({ file: file('host.json', REQUIRED), env: {} }).hostname, fullyQualifiedHostname());
  t.is(mediaServerClientTag('media-1.example.com'), 'MediaServer-media-1.example.com');
});

test('precedence: file < environment < command line', (t) => {
  const path = file('prec.json', { ...REQUIRED, rtmp: { port: 1000 }, kaltura: { ...REQUIRED.kaltura, partnerId: 101, timeoutMs: 3000 } });
  const c = loadConfig({
    file: path,
    env: { KLIVE_RTMP_PORT: '2000', KLIVE_PARTNER_ID: '102', KLIVE_ADMIN_SECRET: 'env-secret-456', UNRELATED: 'x' },
    overrides: [parseOverride('rtmp.port=3000'), { key: 'hostname', value: 'media-7', source: '--hostname' }],
  });
  t.is(c.rtmp.port, 3000);
  t.is(c.kaltura.partnerId, 102);
  t.is(c.kaltura.adminSecret, 'env-secret-456');
  t.is(c.kaltura.timeoutMs, 3000);
  t.is(c.auth.decisionTimeoutMs, 3000, 'the auth wait follows the API timeout unless set');
  t.is(c.hostname, 'media-7');
});

test('a bad value names the key and the file', (t) => {
  const path = file('config.json', { kaltura: { serviceUrl: 'not a url', adminSecret: 's' } });
  const err = configError(t, () => loadConfig({ file: path, env: {} }));
  t.is(err.code, 'CONFIG_INVALID');
  t.is(err.message, `${path}: kaltura.serviceUrl: must be a URL`);
});

test('an unknown key names the key and the file; every problem is listed', (t) => {
  const path = file('typo.json', { ...REQUIRED, kaltura: { ...REQUIRED.kaltura, partnerID: 5 }, rtmp: { port: 'x' }, workMode: 'wowza' });
  const err = configError(t, () => loadConfig({ file: path, env: {} }));
  t.deepEqual([...err.problems].sort(), [
    `${path}: kaltura.partnerID: unknown key`,
    `${path}: rtmp.port: must be a number`,
    `${path}: workMode: must be 'kaltura' or 'ecdn'`,
  ]);
});

test('a bad environment value names the variable', (t) => {
  const err = configError(t, () => loadConfig({ file: file('ok.json', REQUIRED), env: { KLIVE_PARTNER_ID: 'abc' } }));
  t.is(err.message, 'environment KLIVE_PARTNER_ID: kaltura.partnerId: must be an integer');
});

test('command-line problems name the flag; unknown --set keys are refused', (t) => {
  const bad = configError(t, () => loadConfig({ file: file('ok2.json', REQUIRED), env: {}, overrides: [parseOverride('rtmp.port=99999')] }));
  t.is(bad.message, '--set rtmp.port=99999: rtmp.port: must be 0..65535');
  const unknown = configError(t, () => loadConfig({ env: {}, overrides: [parseOverride('rtmp.prot=1')], dev: true }));
  t.regex(unknown.message, /^--set rtmp\.prot=1: rtmp\.prot: unknown key/);
  t.throws(() => parseOverride('novalue'), { instanceOf: ConfigError, message: '--set novalue: expected key=value' });
});

test('not JSON, unreadable file and cross-key rules', (t) => {
  t.regex(configError(t, () => loadConfig({ file: file('broken.json', '{"kaltura": '), env: {} })).message, /broken\.json: not valid JSON/);
  t.is(configError(t, () => loadConfig({ file: join(dir, 'absent.json'), env: {} })).code, 'CONFIG_UNREADABLE');
  const margin = configError(t, () =>
    loadConfig({ file: file('margin.json', { kaltura: { ...REQUIRED.kaltura, ksExpirySeconds: 5, ksRenewMarginSeconds: 5 } }), env: {} }),
  );
  t.regex(margin.message, /kaltura\.ksRenewMarginSeconds: must be less than kaltura\.ksExpirySeconds/);
});

test('outside dev mode serviceUrl and adminSecret are required; in dev mode they are not', (t) => {
  const err = configError(t, () => loadConfig({ file: file('nosecret.json', { kaltura: { serviceUrl: 'https://k.example' } }), env: {} }));
  t.is(err.code, 'CONFIG_MISSING');
  t.regex(err.message, /^kaltura\.adminSecret is required: .*KLIVE_ADMIN_SECRET.*--dev/);
  t.notThrows(() => loadConfig({ env: {}, dev: true }));
});

test('the admin secret never appears in a dump or in errors', (t) => {
  const c = loadConfig({ file: file('secret.json', REQUIRED), env: {} });
  const dump = JSON.stringify(redactConfig(c));
  t.false(dump.includes('file-secret-123'));
  t.true(dump.includes('"adminSecret":"***"'));
  const err = configError(t, () => loadConfig({ file: file('secret2.json', { kaltura: { ...REQUIRED.kaltura, adminSecret: 42 } }), env: {} }));
  t.false(err.message.includes('42'));
  t.is(parseOverride('kaltura.adminSecret=hunter2').source, '--set kaltura.adminSecret=***');
});

// ---------------------------------------------------------------------------------------------
// Logging

function memorySink(isTTY = false): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { isTTY, lines, write: (line: string) => lines.push(line) };
}

test('JSON lines with bound fields; levels filter; secrets and tokens masked', (t) => {
  const sink = memorySink();
  const log = createLogger({ sink, level: 'info', now: () => new Date('2026-01-02T03:04:05.678Z') });
  const conn = log.child({ connectionId: 7, entryId: '0_rkij47dr' });
  conn.debug('hidden');
  conn.info('connect accepted', { tcUrl: 'rtmp://h/kLive/?p=102&e=0_rkij47dr&i=0&t=dj94kfit', adminSecret: 'xyz', token: 'abc', nested: { ks: 'djJ8LTV8' } });
  t.is(sink.lines.length, 1);
  t.true(sink.lines[0].endsWith('\n'));
  t.deepEqual(JSON.parse(sink.lines[0]), {
    time: '2026-01-02T03:04:05.678Z',
    level: 'info',
    msg: 'connect accepted',
    connectionId: 7,
    entryId: '0_rkij47dr',
    tcUrl: 'rtmp://h/kLive/?p=102&e=0_rkij47dr&i=0&t=***',
    adminSecret: '***',
    token: '***',
    nested: { ks: '***' },
  });
  conn.warn('failed', { error: Object.assign(new Error('see rtmp://x/kLive?t=tok'), { code: 'E1' }) });
  t.deepEqual(JSON.parse(sink.lines[1]).error, { name: 'Error', code: 'E1', message: 'see rtmp://x/kLive?t=***' });
});

test('a terminal gets one readable line per record', (t) => {
  const sink = memorySink(true);
  const log = createLogger({ sink, color: false, now: () => new Date(2026, 0, 2, 3, 4, 5, 6) });
  log.child({ entryId: '0_rkij47dr' }).warn('connect refused', { connectionId: 3, reason: 'Missing argument: token' });
  t.is(sink.lines[0], '03:04:05.006 WARN  connect refused entryId=0_rkij47dr connectionId=3 reason="Missing argument: token"\n');
});

test('recording keys: defaults, directories that follow recording.directory, booleans from the environment', (t) => {
  const c = loadConfig({ file: file('rec.json', { ...REQUIRED, recording: { directory: '/data/rec' } }), env: {} });
  t.like(c.recording, {
    enabled: true,
    directory: '/data/rec',
    sharedDirectory: join('/data/rec', 'shared'),
    stateDirectory: join('/data/rec', '.state'),
    segmentDurationSeconds: 900,
    retryForSeconds: 259200,
    uploadChunkBytes: 8 * 1024 * 1024,
    retainDeliveredSeconds: 0,
    diskBudgetBytes: 0,
    syncPointIntervalSeconds: 60,
  });
  const env = loadConfig({
    file: file('rec2.json', REQUIRED),
    env: { KLIVE_RECORDING_ENABLED: 'false', KLIVE_RECORDING_SHARED_DIRECTORY: '/mnt/kaltura', KLIVE_RECORDING_UPLOAD_CHUNK_BYTES: '1048576' },
  });
  t.like(env.recording, { enabled: false, sharedDirectory: '/mnt/kaltura', uploadChunkBytes: 1048576 });
  const bad = configError(t, () => loadConfig({ file: file('rec3.json', REQUIRED), env: { KLIVE_RECORDING_ENABLED: 'maybe' } }));
  t.deepEqual(bad.problems, ['environment KLIVE_RECORDING_ENABLED: recording.enabled: must be true or false']);
});

test('SRT and RTMPS: off by default; RTMPS needs its certificate and key; --dev turns both on', (t) => {
  const c = loadConfig({ file: file('plain.json', REQUIRED), env: {} });
  t.is(c.srt.port, undefined);
  t.is(c.rtmps.port, undefined);
  const on = loadConfig({ file: file('on.json', { ...REQUIRED, srt: { port: 9000 }, rtmps: { port: 443, certFile: '/c.pem', keyFile: '/k.pem' } }), env: { KLIVE_SRT_HOST: '10.0.0.1' } });
  t.like(on, { srt: { host: '10.0.0.1', port: 9000 }, rtmps: { host: '0.0.0.0', port: 443, certFile: '/c.pem', keyFile: '/k.pem' } });
  const noCert = configError(t, () => loadConfig({ file: file('nocert.json', { ...REQUIRED, rtmps: { port: 443 } }), env: {} }));
  t.is(noCert.code, 'CONFIG_MISSING');
  t.regex(noCert.message, /nocert\.json: rtmps\.certFile and rtmps\.keyFile: required when rtmps\.port is set/);
  const dev = loadConfig({ env: {}, dev: true });
  t.like(dev, { srt: { port: 9000 }, rtmps: { port: 1936 } });
  t.regex(dev.rtmps.certFile ?? '', /tls\/dev-cert\.pem$/);
  const devEphemeral = loadConfig({ env: {}, dev: true, overrides: [parseOverride('rtmp.port=0')] });
  t.like(devEphemeral, { srt: { port: 0 }, rtmps: { port: 0 } }, 'an OS-chosen RTMP port gets OS-chosen SRT and RTMPS ports');
});
