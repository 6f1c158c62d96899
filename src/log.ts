/**
 * Structured logging for the daemon.
 *
 * One record per line: JSON (`time`, `level`, `msg`, then bound and per-call fields such as
 * `entryId` and `connectionId`) when the output is not a terminal, so log shippers can parse
 * it; a short coloured line on a terminal, for people. Child loggers carry bound fields, so a
 * connection's logger stamps every line with its ids.
 *
 * Secrets never reach the output: fields whose name says secret / password / ks / token are
 * masked, and `t=` / `token=` values inside URLs are masked wherever they appear in a string
 * (the stream token is a publishing credential and encoders put it in the URL).
 */
import { inspect } from 'node:util';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where lines go: a stream (stdout) or anything with a `write(line)`. */
export interface LogSink {
  write(line: string): unknown;
  isTTY?: boolean;
}

export interface LoggerOptions {
  /** Lowest level written; default info. */
  level?: LogLevel;
  /** Default: pretty on a TTY sink, JSON otherwise. */
  format?: LogFormat | 'auto';
  /** Default process.stdout. */
  sink?: LogSink;
  /** Fields bound to every record. */
  fields?: LogFields;
  /** Clock for the `time` field; for tests. */
  now?: () => Date;
  /** Colours in pretty mode; default true when the sink is a TTY. */
  color?: boolean;
}

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  isEnabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every record (later fields win). */
  child(fields: LogFields): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? process.stdout;
  const tty = sink.isTTY === true;
  const format: LogFormat = options.format === undefined || options.format === 'auto' ? (tty ? 'pretty' : 'json') : options.format;
  return new StructuredLogger(
    {
      level: options.level ?? 'info',
      format,
      sink,
      now: options.now ?? (() => new Date()),
      color: options.color ?? tty,
    },
    options.fields ?? {},
  );
}

/** A logger that drops everything (library default when the embedder passes none). */
export const silentLogger: Logger = {
  level: 'error',
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  log: () => undefined,
  isEnabled: () => false,
  child: () => silentLogger,
};

interface Shared {
  level: LogLevel;
  format: LogFormat;
  sink: LogSink;
  now: () => Date;
  color: boolean;
}

class StructuredLogger implements Logger {
  constructor(
    private readonly shared: Shared,
    private readonly bound: LogFields,
  ) {}

  get level(): LogLevel {
    return this.shared.level;
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  isEnabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= LEVEL_RANK[this.shared.level];
  }

  child(fields: LogFields): Logger {
    return new StructuredLogger(this.shared, { ...this.bound, ...fields });
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.isEnabled(level)) return;
    const merged: LogFields = { ...this.bound, ...fields };
    const clean = sanitize(merged) as LogFields;
    const time = this.shared.now();
    const line =
      this.shared.format === 'json'
        ? jsonLine(time, level, maskString(msg), clean)
        : prettyLine(time, level, maskString(msg), clean, this.shared.color);
    try {
      this.shared.sink.write(`${line}\n`);
    } catch {
      // A closed stdout (EPIPE) must not take the server down.
    }
  }
}

function jsonLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  // time/level/msg first: they are what a reader scans for; undefined fields are dropped.
  const record: LogFields = { time: time.toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && !(k in record)) record[k] = v;
  }
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ time: record.time, level, msg, logError: 'fields not serialisable' });
  }
}

const COLORS: Record<LogLevel, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

function prettyLine(time: Date, level: LogLevel, msg: string, fields: LogFields, color: boolean): string {
  const hh = time.toTimeString().slice(0, 8);
  const ms = String(time.getMilliseconds()).padStart(3, '0');
  const tag = level.toUpperCase().padEnd(5);
  const parts: string[] = [];
  // The ids people grep for come first, in a fixed order.
  const ordered = ['entryId', 'connectionId', 'streamName'];
  const keys = [...ordered.filter((k) => k in fields), ...Object.keys(fields).filter((k) => !ordered.includes(k))];
  for (const k of keys) {
    const v = fields[k];
    if (v === undefined) continue;
    parts.push(`${k}=${formatValue(v)}`);
  }
  const rest = parts.length > 0 ? ` ${color ? DIM : ''}${parts.join(' ')}${color ? RESET : ''}` : '';
  const head = color ? `${COLORS[level]}${tag}${RESET}` : tag;
  return `${hh}.${ms} ${head} ${msg}${rest}`;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return inspect(v, { depth: 2, breakLength: Infinity });
  }
}

// ---------------------------------------------------------------------------------------------
// Redaction

export const MASK = '***';

/** Field names whose values are credentials. */
const SECRET_KEY = /(secret|password|passwd|^ks$|token$|^t$|authorization|cookie)/i;

/** Whether a field of this name holds a credential (its value is masked wherever it is printed). */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/** `t=` / `token=` (and `ks=`) values in query strings. */
const SECRET_QUERY = /([?&](?:t|token|ks|secret|adminSecret)=)[^&\s"'/]*/gi;

/** Mask credential values in URLs inside a text. */
export function maskString(text: string): string {
  return text.replace(SECRET_QUERY, `$1${MASK}`);
}

/** A short, non-reversible form of a token for diagnostics: first two characters, then ***. */
export function maskToken(token: string): string {
  return token.length <= 4 ? MASK : `${token.slice(0, 2)}${MASK}`;
}

/**
 * A copy of `value` safe to print: credential fields masked, URLs in strings masked, errors
 * reduced to name/code/message, cycles cut. Depth-limited so a huge object cannot stall a log call.
 */
export function sanitize(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return maskString(value);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : typeof value === 'function' ? undefined : value;
  }
  if (seen.has(value)) return '[cycle]';
  if (depth > 6) return '[deep]';
  seen.add(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, ...(code === undefined ? {} : { code }), message: maskString(value.message) };
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => sanitize(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  const source = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
  if (source === null || typeof source !== 'object') return sanitize(source, depth + 1, seen);
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? MASK : sanitize(v, depth + 1, seen);
  }
  return out;
}
