/**
 * klive-server command line: argv → config → daemon. Exit codes: 0 done (or stopped by
 * SIGINT/SIGTERM), 1 the daemon failed to start, 2 bad usage or configuration.
 */
import { version } from './package-info';
import { CONFIG_FILE_ENV, CONFIG_KEYS, ConfigError, loadConfig, parseOverride, redactConfig, type KliveConfig } from './config';
import { devBackupBanner, devBanner, startDaemon, startDevBackup, startDevDaemon, type DaemonHandle } from './daemon';
import { nativeVersion } from './ingest/native';
import { createLogger, sanitize } from './log';

const envTable = Object.entries(CONFIG_KEYS)
  .filter(([, spec]) => spec.env !== undefined)
  .map(([key, spec]) => `  ${(spec.env as string).padEnd(40)} ${key}`)
  .join('\n');

const HELP = `klive-server ${version} — live-video ingest server for Kaltura

Usage:
  klive-server --config FILE [options]     run against Kaltura
  klive-server --dev [options]             run with the embedded Kaltura API emulator and a demo entry

Options:
  --config FILE          JSON config file (also ${CONFIG_FILE_ENV}=FILE)
  --dev                  start the embedded Kaltura API emulator in-process and print how to publish
  --backup-of URL        with --dev: run as the demo entry's backup node (server index 1), registered
                         with the primary's emulator at URL (printed in the primary's banner)
  --set KEY=VALUE        set any config key, e.g. --set kaltura.timeoutMs=5000 (repeatable)
  --host ADDRESS         RTMP bind address (rtmp.host, default 0.0.0.0)
  --port PORT            RTMP port (rtmp.port, default 1935; 0 lets the OS pick)
  --admin-port PORT      control-plane port: diagnostics, metrics, dashboard (admin.port, default 8086)
  --service-url URL      Kaltura API root (kaltura.serviceUrl)
  --partner-id ID        Kaltura partner of the admin secret (kaltura.partnerId, default -5)
  --hostname NAME        media-server node name known to Kaltura (hostname, default the OS hostname)
  --log-level LEVEL      debug, info, warn or error (log.level)
  --log-format FORMAT    auto, json or pretty (log.format)
  --print-config         print the effective configuration (secrets masked) and exit
  --version              print the version
  --help                 this text

Precedence: defaults < config file < environment < command line.
The admin secret belongs in the config file or KLIVE_ADMIN_SECRET (command lines are visible to ps).

Environment variables:
${envTable}
`;

type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; dev: boolean; backupOf?: string; file?: string; printConfig: boolean; overrides: Array<{ key: string; value: string; source: string }> };

class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

const FLAG_KEYS: Record<string, string> = {
  '--host': 'rtmp.host',
  '--port': 'rtmp.port',
  '--admin-port': 'admin.port',
  '--service-url': 'kaltura.serviceUrl',
  '--partner-id': 'kaltura.partnerId',
  '--hostname': 'hostname',
  '--log-level': 'log.level',
  '--log-format': 'log.format',
};

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Command {
  let dev = false;
  let backupOf: string | undefined;
  let printConfig = false;
  let file: string | undefined;
  const overrides: Array<{ key: string; value: string; source: string }> = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0 && arg !== '--set') {
      // --port=1935 as well as --port 1935.
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--help':
      case '-h':
        return { kind: 'help' };
      case '--version':
      case '-v':
        return { kind: 'version' };
      case '--dev':
        dev = true;
        break;
      case '--backup-of': {
        const url = value();
        if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--backup-of needs the primary's Kaltura emulator URL (http://HOST:PORT), not "${url}"`);
        backupOf = url;
        break;
      }
      case '--print-config':
        printConfig = true;
        break;
      case '--config':
      case '-c':
        file = value();
        break;
      case '--set': {
        const v = value();
        overrides.push(parseOverride(v));
        break;
      }
      default: {
        const key = FLAG_KEYS[arg];
        if (key === undefined) throw new UsageError(`unknown argument ${argv[i]} (see --help)`);
        overrides.push({ key, value: value(), source: arg });
      }
    }
  }
  file ??= env[CONFIG_FILE_ENV] === '' ? undefined : env[CONFIG_FILE_ENV];
  if (backupOf !== undefined && !dev) throw new UsageError('--backup-of runs a second --dev node: use it with --dev');
  return { kind: 'run', dev, ...(backupOf !== undefined ? { backupOf } : {}), file, printConfig, overrides };
}

async function main(): Promise<number> {
  let command: Command;
  let config: KliveConfig;
  try {
    command = parseArgs(process.argv.slice(2));
    if (command.kind === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (command.kind === 'version') {
      process.stdout.write(`klive-server ${version} (native core ${nativeVersion()})\n`);
      return 0;
    }
    config = loadConfig({ file: command.file, overrides: command.overrides, dev: command.dev });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`klive-server: ${err.message.split('\n').join('\nklive-server: ')}\n`);
      return 2;
    }
    throw err;
  }
  if (command.printConfig) {
    process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    return 0;
  }

  const log = createLogger({ level: config.log.level, format: config.log.format });
  let handle: DaemonHandle;
  try {
    if (command.dev && command.backupOf !== undefined) {
      const backup = await startDevBackup(config, command.backupOf, { logger: log });
      process.stderr.write(devBackupBanner(backup));
      log.info('dev backup node ready', { kaltura: backup.kalturaUrl, obsStreamKey: backup.instructions.obsStreamKey });
      handle = backup;
    } else if (command.dev) {
      const dev = await startDevDaemon(config, { logger: log });
      process.stderr.write(devBanner(dev));
      // The banner holds the demo token; the log line does not (tokens are masked in logs).
      log.info('dev mode ready', { kalturaEmulator: dev.emulator.url, obsStreamKey: dev.instructions.obsStreamKey });
      handle = dev;
    } else {
      handle = await startDaemon(config, { logger: log });
    }
  } catch (err) {
    log.error('klive-server failed to start', { error: sanitize(err) });
    // Also where an operator running it by hand looks first (stdout may be a log shipper).
    process.stderr.write(`klive-server: failed to start: ${String(sanitize((err as Error)?.message ?? err))}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        // A second signal: the operator wants out now.
        log.warn('second signal, exiting at once', { signal });
        process.exit(1);
      }
      signalled = true;
      log.info('signal received', { signal });
      handle.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: err });
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`klive-server: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
