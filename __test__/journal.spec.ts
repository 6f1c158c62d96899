/**
 * The recording delivery journal under damage: a disk that fills in the middle of a record
 * (a real short write, on a small tmpfs; needs root for the mount), lines that cannot be
 * read, and a second daemon on the same state directory.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, fstatSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MEDIA_SERVER_ADMIN_SECRET, demoFixtures, startKalturaEmulator } from '../src/dev';
import { CORRUPT_SUFFIX, JOURNAL_FILE, Journal } from '../src/recording/journal';
import type { DeliveryItem } from '../src/recording/types';
import { run, tempDir } from './helpers/media';

const rootTest = process.geteuid?.() === 0 ? test : test.skip;

function item(id: string, seq: number, path = `/rec/0_abcdefgh/0_abcdefgh_32/${id}.mp4`): DeliveryItem {
  return { id, seq, entryId: '0_abcdefgh', flavorParamsId: 32, serverIndex: 0, path, bytes: 1000, durationMs: 900_000, isLast: false, enqueuedAt: 1_700_000_000_000 + seq, state: 'pending', attempts: 0 };
}

rootTest('a disk that fills in the middle of a record: the torn part is cut back, awaited records survive, the next one is intact', async (t) => {
  const dir = tempDir('journal-full');
  const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', dir]);
  t.is(mounted.code, 0, mounted.stderr);
  t.teardown(() => run('umount', ['-l', dir]).then(() => undefined));

  const { journal } = await Journal.open(dir);
  await journal.put(item('a', 1));
  await journal.put(item('b', 2));
  const path = join(dir, JOURNAL_FILE);
  const goodSize = statSync(path).size;

  // Fill the disk, then free two pages: the next big record fits only in part (a short write).
  const fillerPath = join(dir, 'filler');
  const filler = openSync(fillerPath, 'w');
  const block = Buffer.alloc(4096, 0x66);
  try {
    for (;;) writeSync(filler, block);
  } catch (error) {
    t.is((error as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  ftruncateSync(filler, Math.max(0, fstatSync(filler).size - 8192));
  const big = item('c', 3, `/rec/${'x'.repeat(40_000)}.mp4`);
  const failed = await t.throwsAsync(journal.put(big));
  t.is((failed as { code?: string }).code, 'JOURNAL_IO');
  t.is(statSync(path).size, goodSize, 'cut back to the last good record');

  // Space comes back: the next record lands whole, right after the good ones.
  ftruncateSync(filler, 0);
  closeSync(filler);
  await journal.put(item('d', 4));
  await journal.close();
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  t.is(lines.length, 3);
  for (const line of lines) t.notThrows(() => JSON.parse(line));
  const reopened = await Journal.open(dir);
  t.deepEqual(
    reopened.items.map((i) => i.id),
    ['a', 'b', 'd'],
  );
  t.is(reopened.skippedLines, 0);
  await reopened.journal.close();
});

test('unreadable lines are kept in a .corrupt file; every readable record is replayed', async (t) => {
  const dir = tempDir('journal-corrupt');
  const path = join(dir, JOURNAL_FILE);
  const torn = '{"op":"put","item":{"id":"torn","seq":';
  const alien = '{"op":"zap","id":"a"}';
  writeFileSync(path, [JSON.stringify({ op: 'put', item: item('a', 1) }), torn, alien, JSON.stringify({ op: 'put', item: item('b', 2) }), ''].join('\n'));
  const { journal, items, skippedLines, corruptFile } = await Journal.open(dir);
  t.deepEqual(
    items.map((i) => i.id),
    ['a', 'b'],
  );
  t.is(skippedLines, 2);
  t.is(corruptFile, `${path}${CORRUPT_SUFFIX}`);
  t.deepEqual(readFileSync(corruptFile, 'utf8').trimEnd().split('\n'), [torn, alien]);
  t.false(readFileSync(path, 'utf8').includes('torn'), 'the journal itself is clean again');
  await journal.close();
  // Opening again adds nothing to the .corrupt file.
  const again = await Journal.open(dir);
  t.is(again.skippedLines, 0);
  t.is(readFileSync(corruptFile, 'utf8').trimEnd().split('\n').length, 2);
  await again.journal.close();
});

test('one journal per state directory: a second open is refused until the first closes', async (t) => {
  const dir = tempDir('journal-lock');
  const first = await Journal.open(dir);
  const error = await t.throwsAsync(Journal.open(dir));
  t.is((error as { code?: string }).code, 'STATE_LOCKED');
  t.regex(error?.message ?? '', new RegExp(`the state directory ${dir} is in use by another klive-server \\(pid ${process.pid}\\)`));
  await first.journal.close();
  const second = await Journal.open(dir);
  await second.journal.close();
  t.pass();
});

test('a second daemon on the same state directory: a clear start-up error and exit status 1', async (t) => {
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures() });
  t.teardown(() => emulator.stop());
  const dir = tempDir('journal-two-daemons');
  const configFile = join(dir, 'klive.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
      hostname: 'klive-two-daemons',
      rtmp: { host: '127.0.0.1', port: 0 },
      recording: { directory: join(dir, 'rec') },
      log: { format: 'json' },
    }),
  );
  const bin = join(__dirname, '..', 'bin', 'klive-server.js');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_')));
  const first = spawn(process.execPath, [bin, '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => first.kill('SIGKILL'), 60_000);
  t.teardown(() => clearTimeout(killer));
  const firstExit = new Promise<number | null>((resolve) => first.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    first.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"klive-server started"')) resolve();
    });
    void firstExit.then(() => reject(new Error(`the first daemon exited: ${out}`)));
  });

  const second = await run(process.execPath, [bin, '--config', configFile], 30_000, env);
  t.is(second.code, 1);
  t.regex(second.stderr, new RegExp(`failed to start: the state directory .*/rec/\\.state is in use by another klive-server \\(pid ${first.pid}\\)`));
  t.true(existsSync(join(dir, 'rec', '.state', JOURNAL_FILE)));

  first.kill('SIGTERM');
  t.is(await firstExit, 0);
});
