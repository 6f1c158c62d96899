/**
 * scripts/check-glibc.js, the CI check on the prebuilt linux-x64-gnu core: it reads the ELF's
 * version needs itself and fails above the ceiling. Run on this checkout's own build (linked
 * against the build machine's glibc) and on the prebuilt core when it has been built.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './helpers/media';

const ROOT = join(__dirname, '..');
const CHECK = join(ROOT, 'scripts', 'check-glibc.js');
const LOCAL = join(ROOT, 'klive-server.linux-x64-gnu.node');
const PREBUILT = join(ROOT, 'npm', 'linux-x64-gnu', 'klive-server.linux-x64-gnu.node');

test('the glibc check prints the highest GLIBC version needed and fails above the ceiling', async (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return t.fail('a linux-x64-gnu check');
  const high = await run(process.execPath, [CHECK, LOCAL, '--max', '99.0']);
  t.is(high.code, 0, high.stderr);
  const needed = /needs GLIBC_(\d+\.\d+(?:\.\d+)?) at most \(ceiling 99\.0\)/.exec(high.stdout)?.[1];
  t.truthy(needed, high.stdout);
  t.regex(high.stdout, /libc\.so\.6 \(\d+\)/);
  // Every glibc build needs at least GLIBC_2.2.5 on x64: a 2.0 ceiling must fail, naming it.
  const low = await run(process.execPath, [CHECK, LOCAL, '--max', '2.0']);
  t.is(low.code, 1);
  t.regex(low.stderr, new RegExp(`needs .*GLIBC_${(needed ?? '').replace(/\./g, '\\.')}.*above the GLIBC_2\\.0 ceiling`));
  t.is((await run(process.execPath, [CHECK, join(ROOT, 'package.json')])).code !== 0, true, 'not an ELF file: an error');

  if (existsSync(PREBUILT)) {
    const prebuilt = await run(process.execPath, [CHECK, PREBUILT]);
    t.is(prebuilt.code, 0, `${prebuilt.stdout}${prebuilt.stderr}`);
    t.log(prebuilt.stdout.trim());
  } else if (process.env.CI) {
    t.fail(`${PREBUILT} is missing: CI builds it with \`npm run build:prebuilt\` before \`npm test\``);
  }
});
