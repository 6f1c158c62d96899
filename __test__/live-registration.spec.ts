/**
 * The registerMediaServer state machine without sockets: a manual clock and a scripted API
 * whose calls stay pending until the test answers them, so overlap, coalescing, catch-up after
 * an outage and the end of a publish on a blocked partner / deleted entry are all visible.
 */
import test from 'ava';
import { LiveRegistration, type RegistrationClock } from '../src/kaltura/live-registration';
import { KalturaApiError, KalturaNetworkError } from '../src/kaltura/errors';
import type { KalturaLiveStreamEntry } from '../src/kaltura/types';

class ManualClock implements RegistrationClock {
  t = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Advance time, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));

interface Call {
  action: 'register' | 'unregister';
  entryId: string;
  index: number;
  status?: number;
  shouldCreateRecordedEntry?: boolean;
  impersonate?: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

function scriptedApi() {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const pending = (c: Omit<Call, 'resolve' | 'reject'>) =>
    new Promise<KalturaLiveStreamEntry>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      calls.push({
        ...c,
        resolve: () => {
          inFlight--;
          resolve({ id: c.entryId } as KalturaLiveStreamEntry);
        },
        reject: (e) => {
          inFlight--;
          reject(e);
        },
      });
    });
  return {
    calls,
    maxInFlight: () => maxInFlight,
    api: {
      liveStreamRegisterMediaServer: (p: { entryId: string; mediaServerIndex: 0 | 1; liveEntryStatus: number; shouldCreateRecordedEntry: boolean }, impersonate?: number) =>
        pending({ action: 'register', entryId: p.entryId, index: p.mediaServerIndex, status: p.liveEntryStatus, shouldCreateRecordedEntry: p.shouldCreateRecordedEntry, impersonate }),
      liveStreamUnregisterMediaServer: (entryId: string, _hostname: string, index: 0 | 1, impersonate?: number) => pending({ action: 'unregister', entryId, index, impersonate }),
    },
  };
}

function setup(opts: { graceMs?: number; playable?: () => boolean } = {}) {
  const clock = new ManualClock();
  const scripted = scriptedApi();
  const kicked: Array<{ ids: number[]; code: string }> = [];
  let playable = false;
  const reg = new LiveRegistration({
    api: scripted.api,
    hostname: 'node-a',
    applicationName: 'kLive',
    isPlayable: opts.playable ?? (() => playable),
    kick: (ids, reason) => kicked.push({ ids, code: (reason as KalturaApiError).code }),
    graceMs: opts.graceMs ?? 5000,
    refreshMs: 60_000,
    retryInitialMs: 1000,
    clock,
  });
  return { clock, reg, calls: scripted.calls, maxInFlight: scripted.maxInFlight, kicked, setPlayable: (v: boolean) => (playable = v) };
}

const ENTRY = '0_abcdefgh';
const stream = (n = 1, connectionId = 7, serverIndex: 0 | 1 = 0) => ({ entryId: ENTRY, serverIndex, streamName: `${ENTRY}_${n}`, connectionId, impersonate: 102, records: true });
const down = () => new KalturaNetworkError({ code: 'NETWORK', message: 'connect ECONNREFUSED', service: 'livestream', action: 'registerMediaServer', attempts: 1 });
const apiError = (code: string) => new KalturaApiError({ code, message: code, service: 'livestream', action: 'registerMediaServer' });

test('publish → BROADCASTING, first segments → PLAYABLE, refreshed every 60 s, unregistered after the grace', async (t) => {
  const { clock, reg, calls, setPlayable } = setup();
  reg.publish(stream());
  await flush();
  t.is(calls.length, 1);
  t.like(calls[0], { action: 'register', status: 2, index: 0, shouldCreateRecordedEntry: true, impersonate: 102 });
  calls[0].resolve();
  await flush();
  t.is(reg.entry(ENTRY).kalturaStatus, 'BROADCASTING');

  reg.renditions(`${ENTRY}_1`, [`${ENTRY}_32`]);
  await clock.advance(2000);
  t.is(calls.length, 1, 'not playable yet: nothing sent');
  setPlayable(true);
  await clock.advance(600);
  t.is(calls.length, 2);
  t.like(calls[1], { action: 'register', status: 1 });
  calls[1].resolve();
  await flush();
  t.is(reg.entry(ENTRY).kalturaStatus, 'PLAYABLE');

  await clock.advance(59_000);
  t.is(calls.length, 2, 'no refresh before 60 s');
  await clock.advance(1000);
  t.is(calls.length, 3);
  t.like(calls[2], { action: 'register', status: 1 });
  calls[2].resolve();
  await flush();

  reg.unpublish(`${ENTRY}_1`);
  await clock.advance(4900);
  t.is(calls.length, 3, 'still within the grace');
  await clock.advance(200);
  t.is(calls.length, 4);
  t.like(calls[3], { action: 'unregister', index: 0 });
  calls[3].resolve();
  await flush();
  t.is(reg.entry(ENTRY).kalturaStatus, null);
  t.deepEqual(reg.snapshot(), []);
});

test('a republish within the grace keeps the registration (no unregister, no BROADCASTING again)', async (t) => {
  const { clock, reg, calls, setPlayable } = setup();
  setPlayable(true);
  reg.publish(stream());
  reg.renditions(`${ENTRY}_1`, [`${ENTRY}_32`]);
  await flush();
  calls[0].resolve();
  await clock.advance(600);
  calls[1].resolve();
  await flush();
  reg.unpublish(`${ENTRY}_1`);
  await clock.advance(3000);
  reg.publish(stream(1, 8));
  await clock.advance(10_000);
  t.deepEqual(
    calls.map((c) => `${c.action}:${c.status ?? ''}`),
    ['register:2', 'register:1'],
  );
  t.is(reg.entry(ENTRY).kalturaStatus, 'PLAYABLE');
});

test('single flight: a state wanted while a call is out is sent after it, coalesced to the latest', async (t) => {
  const { clock, reg, calls, maxInFlight, setPlayable } = setup({ graceMs: 0 });
  reg.publish(stream());
  reg.renditions(`${ENTRY}_1`, [`${ENTRY}_32`]);
  setPlayable(true);
  await clock.advance(600);
  await clock.advance(600);
  t.is(calls.length, 1, 'PLAYABLE waits for the BROADCASTING call');
  calls[0].resolve();
  await flush();
  t.is(calls.length, 2);
  t.like(calls[1], { status: 1 });
  // Unpublish and republish while PLAYABLE is out: nothing more is sent until it answers.
  reg.unpublish(`${ENTRY}_1`);
  reg.publish(stream(1, 9));
  await flush();
  t.is(calls.length, 2);
  calls[1].resolve();
  await flush();
  t.is(maxInFlight(), 1);
  t.true(calls.every((c) => c.entryId === ENTRY));
});

test('Kaltura down: retries back off (bounded) and the registration catches up when it answers', async (t) => {
  const { clock, reg, calls, maxInFlight, setPlayable } = setup();
  setPlayable(true);
  reg.publish(stream());
  reg.renditions(`${ENTRY}_1`, [`${ENTRY}_32`]);
  await flush();
  calls[0].resolve();
  await clock.advance(600);
  calls[1].resolve();
  await flush();
  // Refresh fails for 3 minutes.
  const failedAt: number[] = [];
  const outageEnd = clock.now() + 60_000 + 180_000;
  await clock.advance(60_000);
  while (clock.now() < outageEnd) {
    const last = calls[calls.length - 1];
    if (!(last as Call & { done?: boolean }).done) {
      (last as Call & { done?: boolean }).done = true;
      failedAt.push(clock.now());
      last.reject(down());
    }
    await clock.advance(500);
  }
  const gaps = failedAt.slice(1).map((x, i) => x - failedAt[i]);
  t.true(gaps.length >= 5, `retried ${gaps.length} times`);
  t.true(gaps.every((g) => g <= 30_500), `every retry within 30 s: ${gaps.join(',')}`);
  t.true(gaps[1] > gaps[0], 'backs off');
  t.is(reg.snapshot()[0].lastError?.code, 'NETWORK');
  // Kaltura answers again: the next retry (≤ 30 s, within one heartbeat) registers PLAYABLE.
  const before = calls.length;
  const last = calls[calls.length - 1] as Call & { done?: boolean };
  if (!last.done) {
    last.done = true;
    last.resolve();
  }
  await clock.advance(30_000);
  const after = calls.slice(before - 1);
  const ok = after.find((c) => !(c as Call & { done?: boolean }).done);
  if (ok) ok.resolve();
  await flush();
  t.is(reg.entry(ENTRY).kalturaStatus, 'PLAYABLE');
  t.is(reg.snapshot()[0].lastError, undefined);
  t.is(maxInFlight(), 1);
});

for (const code of ['SERVICE_FORBIDDEN_CONTENT_BLOCKED', 'ENTRY_ID_NOT_FOUND']) {
  test(`${code} ends the publish: its connections are kicked, nothing is retried`, async (t) => {
    const { clock, reg, calls, kicked } = setup();
    reg.publish(stream(1, 7));
    reg.publish(stream(2, 8));
    await flush();
    calls[0].reject(apiError(code));
    await flush();
    t.deepEqual(kicked, [{ ids: [7, 8], code }]);
    await clock.advance(120_000);
    t.is(calls.length, 1);
    t.is(reg.entry(ENTRY).kalturaStatus, null);
    t.is(reg.entry(ENTRY).lastError?.code, code);
    // The kicked streams' unpublish events are no-ops.
    reg.unpublish(`${ENTRY}_1`);
    reg.unpublish(`${ENTRY}_2`);
    await clock.advance(10_000);
    t.is(calls.length, 1);
  });
}

test('other API errors (e.g. MEDIA_SERVER_NOT_FOUND) are retried, never kick', async (t) => {
  const { clock, reg, calls, kicked } = setup();
  reg.publish(stream());
  await flush();
  calls[0].reject(apiError('MEDIA_SERVER_NOT_FOUND'));
  await flush();
  await clock.advance(1000);
  t.is(calls.length, 2);
  t.deepEqual(kicked, []);
});

test('primary and backup are separate nodes; only the primary asks for the recorded entry', async (t) => {
  const { reg, calls } = setup();
  reg.publish(stream(1, 7, 0));
  reg.publish(stream(1, 8, 1));
  await flush();
  t.is(calls.length, 2, 'one call each, concurrently');
  t.like(calls[0], { index: 0, shouldCreateRecordedEntry: true });
  t.like(calls[1], { index: 1, shouldCreateRecordedEntry: false });
});

test('unregister: ENTRY_SERVER_NODE_NOT_FOUND is fine; transport failures retry; shutdown unregisters at once', async (t) => {
  const { clock, reg, calls } = setup({ graceMs: 1000 });
  reg.publish(stream(1, 7, 0));
  reg.publish({ ...stream(1, 8, 1), entryId: '0_zzzzzzzz', streamName: '0_zzzzzzzz_1' });
  await flush();
  calls[0].resolve();
  calls[1].resolve();
  await flush();
  reg.unpublish(`${ENTRY}_1`);
  await clock.advance(1000);
  t.like(calls[2], { action: 'unregister', entryId: ENTRY });
  calls[2].reject(apiError('ENTRY_SERVER_NODE_NOT_FOUND'));
  await flush();
  t.is(reg.snapshot().length, 1);
  // Shutdown: the other entry unregisters without waiting for any grace.
  const done = reg.shutdown();
  await flush();
  t.like(calls[3], { action: 'unregister', entryId: '0_zzzzzzzz', index: 1 });
  calls[3].reject(down());
  await done;
  t.deepEqual(reg.snapshot(), []);
  reg.publish(stream());
  await flush();
  t.is(calls.length, 4, 'nothing registers after shutdown');
});
