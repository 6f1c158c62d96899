/**
 * klive-server command line. This stage runs the RTMP ingest core on its own: every
 * publisher is admitted (Kaltura authentication is not wired in yet) and every event is
 * logged as one JSON line.
 */
import { RtmpIngest } from './ingest/rtmp-ingest';
import { nativeVersion } from './ingest/native';
import { version } from '../package.json';

const HELP = `klive-server ${version} — live-video ingest server for Kaltura

Usage: klive-server [--host ADDRESS] [--port PORT]

  --host ADDRESS   RTMP bind address (default 0.0.0.0)
  --port PORT      RTMP port (default 1935)
  --version        print the version
  --help           this text
`;

interface CliOptions {
  host: string;
  port: number;
}

function parseArgs(argv: string[]): CliOptions | 'help' | 'version' {
  const options: CliOptions = { host: '0.0.0.0', port: 1935 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--help':
      case '-h':
        return 'help';
      case '--version':
      case '-v':
        return 'version';
      case '--host':
        options.host = value();
        break;
      case '--port': {
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535`);
        options.port = port;
        break;
      }
      default:
        throw new Error(`unknown argument ${arg} (see --help)`);
    }
  }
  return options;
}

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`klive-server: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (parsed === 'version') {
    process.stdout.write(`${version} (native core ${nativeVersion()})\n`);
    return;
  }
  const ingest = await RtmpIngest.start({ host: parsed.host, port: parsed.port });
  for (const type of ['connect', 'publish', 'play', 'codecInfo', 'unpublish', 'disconnect', 'warning'] as const) {
    ingest.on(type, (event) => log(type === 'warning' ? 'warn' : 'info', type, { ...event }));
  }
  log('info', 'listening', { rtmp: ingest.address, version });
  log('warn', 'publishers are not authenticated in this build: every connect and publish is accepted');
  const stop = async (signal: string) => {
    log('info', 'shutting down', { signal });
    await ingest.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  log('error', (error as Error).message);
  process.exit(1);
});
