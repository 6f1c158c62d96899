/**
 * A bare RTMP core packaging one stream (`live_1`, 1 s segments, 10-minute DVR window) with its
 * HLS segment store in argv[2]: run as its own process, so a test can kill -9 it and start it
 * again on the same directory. Prints `{"port":N}` once listening.
 */
import { RtmpIngest } from '../../src/ingest/rtmp-ingest';

async function main(): Promise<void> {
  const [directory, budget] = process.argv.slice(2);
  const ingest = await RtmpIngest.start({ host: '127.0.0.1', port: 0, hlsDirectory: directory, hlsMemoryBudgetBytes: Number(budget ?? '0') });
  ingest.startHls('live_1', { targetDurationMs: 1000, dvrWindowMs: 600_000, republishGraceMs: 600_000 });
  process.stdout.write(`${JSON.stringify({ port: ingest.port })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
