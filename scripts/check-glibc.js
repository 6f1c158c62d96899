#!/usr/bin/env node
// Prints the highest GLIBC_x.y symbol version an ELF shared object needs and fails when it is
// above the ceiling (default 2.28: RHEL/Rocky 8, Ubuntu 20.04 (2.31 is above!), Debian 10/11).
//
//   node scripts/check-glibc.js FILE.node [--max 2.28]
//
// Reads the ELF's version-needs table (.gnu.version_r, SHT_GNU_verneed) itself, so it needs no
// binutils: every Vernaux entry of a needed library names a version such as GLIBC_2.17.
'use strict';
const { readFileSync } = require('node:fs');

const SHT_GNU_VERNEED = 0x6ffffffe;

/** Versions needed per library: Map<'libc.so.6', ['GLIBC_2.2.5', …]>. */
function versionNeeds(buf) {
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const addr = (o) => (is64 ? Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o));
  const shoff = addr(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: u32(o + 4),
      offset: addr(o + (is64 ? 0x18 : 0x10)),
      size: addr(o + (is64 ? 0x20 : 0x14)),
      link: u32(o + (is64 ? 0x28 : 0x18)),
    });
  }
  const needs = new Map();
  for (const s of sections.filter((x) => x.type === SHT_GNU_VERNEED)) {
    const strtab = sections[s.link];
    const str = (off) => {
      const start = strtab.offset + off;
      return buf.toString('latin1', start, buf.indexOf(0, start));
    };
    let vn = s.offset;
    for (;;) {
      const cnt = u16(vn + 2);
      const file = str(u32(vn + 4));
      const versions = needs.get(file) ?? [];
      let va = vn + u32(vn + 8);
      for (let i = 0; i < cnt; i++) {
        versions.push(str(u32(va + 8)));
        const next = u32(va + 12);
        if (next === 0) break;
        va += next;
      }
      needs.set(file, versions);
      const next = u32(vn + 12);
      if (next === 0) break;
      vn += next;
    }
  }
  return needs;
}

const parse = (v) => v.split('.').map(Number);
const compare = (a, b) => {
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

function main() {
  const args = process.argv.slice(2);
  const maxAt = args.indexOf('--max');
  const max = maxAt >= 0 ? args.splice(maxAt, 2)[1] : '2.28';
  const [file] = args;
  if (!file) {
    process.stderr.write('usage: check-glibc.js FILE.node [--max 2.28]\n');
    return 2;
  }
  const needs = versionNeeds(readFileSync(file));
  const glibc = [...needs.values()].flat().filter((v) => v.startsWith('GLIBC_')).map((v) => v.slice('GLIBC_'.length));
  if (glibc.length === 0) {
    process.stderr.write(`${file}: no GLIBC symbol versions needed (not a glibc build?)\n`);
    return 1;
  }
  const highest = glibc.sort(compare).at(-1);
  const libs = [...needs.entries()].map(([lib, v]) => `${lib} (${v.length})`).join(', ');
  process.stdout.write(`${file}: needs GLIBC_${highest} at most (ceiling ${max}); libraries: ${libs}\n`);
  if (compare(highest, max) > 0) {
    const over = [...new Set(glibc.filter((v) => compare(v, max) > 0))].map((v) => `GLIBC_${v}`).join(', ');
    process.stderr.write(`${file}: needs ${over}, above the GLIBC_${max} ceiling: build it with \`npm run build:prebuilt\`\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) process.exitCode = main();
module.exports = { versionNeeds };
