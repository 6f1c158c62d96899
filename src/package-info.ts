/**
 * The package's own name and version, read from package.json at run time: src/ (through tsx)
 * and dist/ (compiled) both sit one level below it, and tsc leaves package.json out of dist.
 */
const manifest = require('../package.json') as { name: string; version: string };

export const packageName: string = manifest.name;
export const version: string = manifest.version;
