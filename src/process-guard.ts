/**
 * The process-wide last line of defence: a promise rejection nobody handled, or an exception
 * thrown by an event listener, is a bug — but one bad stream must not end every other stream
 * of the server. While at least one daemon runs in the process, such errors are logged and
 * recorded in each daemon's `/diagnostics/errors` (kind `other`), and the process keeps
 * serving. When the last daemon stops, Node's default behaviour comes back (embedders keep
 * their own policy).
 *
 * Uncaught synchronous exceptions are not swallowed here: after one, the process state is
 * unknown and Node's crash (and the supervisor's restart) is the safer answer. Listener
 * exceptions are different: the ingest calls each listener in a try (src/ingest) and reports
 * them through `reportUnexpected`.
 */
import { sanitize, type Logger } from './log';

export interface UnexpectedErrorSink {
  log: Logger;
  /** Adds to `/diagnostics/errors`. */
  recordError?: (kind: 'other', message: string, details?: Record<string, unknown>) => void;
}

const sinks = new Set<UnexpectedErrorSink>();
let counted = 0;

function onUnhandledRejection(reason: unknown): void {
  reportUnexpected(reason, 'unhandled promise rejection');
}

/** Route unexpected errors of this process to `sink` until the returned function is called. */
export function guardProcess(sink: UnexpectedErrorSink): () => void {
  if (sinks.size === 0) process.on('unhandledRejection', onUnhandledRejection);
  sinks.add(sink);
  return () => {
    if (!sinks.delete(sink)) return;
    if (sinks.size === 0) process.off('unhandledRejection', onUnhandledRejection);
  };
}

/** Report an error that escaped its owner (`where` says from what). Never throws. */
export function reportUnexpected(error: unknown, where: string): void {
  counted++;
  const message = `${where}: ${error instanceof Error ? error.message : String(error)}`;
  if (sinks.size === 0) {
    process.stderr.write(`klive-server: ${message}\n${error instanceof Error ? (error.stack ?? '') : ''}\n`);
    return;
  }
  for (const sink of sinks) {
    try {
      sink.log.error('unexpected error (a bug): the server keeps running', { where, error: sanitize(error) });
      sink.recordError?.('other', message, { where });
    } catch {
      // Reporting must never become the next failure.
    }
  }
}

/** Unexpected errors reported since the process started. */
export function unexpectedErrorCount(): number {
  return counted;
}
