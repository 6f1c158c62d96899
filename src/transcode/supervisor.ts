/**
 * Runs one ffmpeg and keeps it running while its source is live.
 *
 * - An exit the supervisor did not ask for (crash, kill -9, input hiccup) restarts ffmpeg after
 *   a backoff: 0.5 s, doubling up to 10 s; a run that lasted 30 s resets the backoff, so a
 *   stream that crashes once an hour restarts at once and a crash loop does not spin.
 * - stop() sends SIGTERM (ffmpeg finishes its outputs cleanly) and SIGKILL after a grace.
 * - No orphans: ffmpeg is started through `setpriv --pdeathsig SIGKILL -- ffmpeg …`, so the
 *   kernel kills it when our process dies, even by SIGKILL when no handler can run. setpriv
 *   (util-linux ≥ 2.33; Debian 12 ships 2.38) sets the flag and execs ffmpeg, so the pid we
 *   see is ffmpeg's own. Without setpriv (macOS, minimal images) ffmpeg is spawned directly and
 *   a `warning` event says that it can be orphaned.
 *
 * Callers' obligations: call stop() on unpublish; listen to `exited` for diagnostics (the
 * stderr tail carries ffmpeg's reason).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log';
import { FfmpegError } from './errors';
import { ProgressParser, type FfmpegProgress } from './progress';

export interface RestartPolicy {
  /** First restart delay, ms; default 500. */
  initialDelayMs?: number;
  /** Growth per consecutive failure; default 2. */
  factor?: number;
  /** Ceiling, ms; default 10 000. */
  maxDelayMs?: number;
  /** A run at least this long resets the delay, ms; default 30 000. */
  stableAfterMs?: number;
}

export interface FfmpegSupervisorOptions {
  /** The binary (resolveFfmpeg().path). */
  ffmpegPath: string;
  /** Its arguments (buildFfmpegArgs); include `-progress pipe:1` for progress events. */
  args: string[];
  restart?: RestartPolicy;
  /** SIGTERM → SIGKILL grace on stop(), ms; default 3000. */
  stopGraceMs?: number;
  /** stderr lines kept for `exited`; default 20. */
  stderrTailLines?: number;
  /** Default true: spawn through setpriv --pdeathsig when available. */
  parentDeathSignal?: boolean;
  logger?: Logger;
}

export interface StartedEvent {
  /**
   * The child's pid, emitted right after spawn. Through setpriv, the same pid becomes ffmpeg
   * itself once setpriv has set the parent-death signal and exec'd (a few ms later); if our
   * process dies inside that window, that one ffmpeg is not covered.
   */
  pid: number;
  /** 0 for the first start, then 1, 2 … for each restart. */
  restarts: number;
}

export interface ExitedEvent {
  pid: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when a restart is scheduled (the exit was not asked for by stop()). */
  restarting: boolean;
  /** Delay before that restart, ms (0 when not restarting). */
  restartInMs: number;
  /** The last stderr lines, newline-joined (spawn errors included). */
  stderrTail: string;
  /** How long this run lasted, ms. */
  ranForMs: number;
}

export type SupervisorState = 'idle' | 'running' | 'backoff' | 'stopping' | 'stopped';

export interface SupervisorStats {
  state: SupervisorState;
  pid: number | null;
  restarts: number;
  /** Epoch ms of the current run's start. */
  startedAt: number | null;
  uptimeMs: number;
  progress: FfmpegProgress | null;
  lastExit: ExitedEvent | null;
  /** Whether the running ffmpeg is protected by a parent-death signal. */
  parentDeathSignal: boolean;
}

export interface FfmpegSupervisorEvents {
  started: [StartedEvent];
  progress: [FfmpegProgress];
  exited: [ExitedEvent];
  warning: [string];
}

let setprivCache: string | null | undefined;

/** Path of a setpriv that supports --pdeathsig, or null; checked once per process. */
export function findSetpriv(): string | null {
  if (setprivCache !== undefined) return setprivCache;
  setprivCache = null;
  for (const candidate of ['setpriv', '/usr/bin/setpriv', '/bin/setpriv']) {
    const r = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (r.status === 0 && r.stdout.includes('--pdeathsig')) {
      setprivCache = candidate;
      break;
    }
  }
  return setprivCache;
}

export class FfmpegSupervisor extends EventEmitter<FfmpegSupervisorEvents> {
  private readonly opts: Required<Omit<FfmpegSupervisorOptions, 'logger' | 'restart'>> & { restart: Required<RestartPolicy> };
  private readonly logger: Logger | undefined;
  private state: SupervisorState = 'idle';
  private child: ChildProcess | null = null;
  private childStartedAt = 0;
  private restarts = 0;
  private nextDelayMs: number;
  private restartTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private stderrLines: string[] = [];
  private stderrPartial = '';
  private lastProgress: FfmpegProgress | null = null;
  private lastExit: ExitedEvent | null = null;
  private protectedByPdeathsig = false;
  private exitWaiters: Array<() => void> = [];

  constructor(options: FfmpegSupervisorOptions) {
    super();
    const r = options.restart ?? {};
    this.opts = {
      ffmpegPath: options.ffmpegPath,
      args: [...options.args],
      stopGraceMs: options.stopGraceMs ?? 3000,
      stderrTailLines: options.stderrTailLines ?? 20,
      parentDeathSignal: options.parentDeathSignal ?? true,
      restart: {
        initialDelayMs: r.initialDelayMs ?? 500,
        factor: r.factor ?? 2,
        maxDelayMs: r.maxDelayMs ?? 10_000,
        stableAfterMs: r.stableAfterMs ?? 30_000,
      },
    };
    this.logger = options.logger;
    this.nextDelayMs = this.opts.restart.initialDelayMs;
  }

  get running(): boolean {
    return this.state === 'running' || this.state === 'backoff';
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts ffmpeg. Throws FfmpegError INVALID_STATE unless idle (a supervisor runs once). */
  start(): void {
    if (this.state !== 'idle') throw new FfmpegError('INVALID_STATE', `cannot start an ffmpeg supervisor that is ${this.state}`);
    this.state = 'running';
    this.spawnOnce();
  }

  /**
   * Stops ffmpeg (SIGTERM, then SIGKILL after the grace) and cancels any pending restart.
   * `drainMs`: first give ffmpeg that long to exit by itself, as it does once its input ended
   * and it has encoded and written what it still held (the last second of every rendition).
   */
  stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    if (this.state === 'idle' || this.state === 'stopped') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    const child = this.child;
    this.state = 'stopping';
    if (!child) {
      this.state = 'stopped';
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    const terminate = () => {
      this.drainTimer = null;
      child.kill('SIGTERM');
      this.killTimer = setTimeout(() => {
        this.logger?.warn('ffmpeg ignored SIGTERM, killing it', { pid: child.pid, graceMs: this.opts.stopGraceMs });
        child.kill('SIGKILL');
      }, this.opts.stopGraceMs);
    };
    if (options.drainMs !== undefined && options.drainMs > 0) this.drainTimer = setTimeout(terminate, options.drainMs);
    else terminate();
    return done;
  }

  stats(): SupervisorStats {
    const running = this.child !== null;
    return {
      state: this.state,
      pid: this.pid,
      restarts: this.restarts,
      startedAt: running ? this.childStartedAt : null,
      uptimeMs: running ? Date.now() - this.childStartedAt : 0,
      progress: this.lastProgress,
      lastExit: this.lastExit,
      parentDeathSignal: running && this.protectedByPdeathsig,
    };
  }

  private spawnOnce(): void {
    this.restartTimer = null;
    let command = this.opts.ffmpegPath;
    let args = this.opts.args;
    this.protectedByPdeathsig = false;
    if (this.opts.parentDeathSignal) {
      const setpriv = findSetpriv();
      if (setpriv) {
        command = setpriv;
        args = ['--pdeathsig', 'SIGKILL', '--', this.opts.ffmpegPath, ...this.opts.args];
        this.protectedByPdeathsig = true;
      } else if (this.restarts === 0) {
        const message = 'setpriv with --pdeathsig is not available: ffmpeg may outlive this process if it is killed with SIGKILL';
        this.logger?.warn(message);
        this.emit('warning', message);
      }
    }

    this.stderrLines = [];
    this.stderrPartial = '';
    this.childStartedAt = Date.now();
    // stdin ignored: ffmpeg reads keys from it otherwise ('q' quits), and -nostdin may be absent.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const parser = new ProgressParser();
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      for (const p of parser.push(chunk)) {
        this.lastProgress = p;
        this.emit('progress', p);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.collectStderr(chunk));

    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      if (spawnError) this.pushStderrLine(`spawn ${command} failed: ${spawnError.message}`);
      this.onChildExit(child, code, signal);
    };
    child.once('error', (e) => finish(null, null, e));
    // 'close' (not 'exit'): stdio is drained, so the stderr tail is complete.
    child.once('close', (code, signal) => finish(code, signal));
    if (child.pid !== undefined) {
      this.logger?.info('ffmpeg started', { pid: child.pid, restarts: this.restarts, pdeathsig: this.protectedByPdeathsig });
      this.emit('started', { pid: child.pid, restarts: this.restarts });
    }
  }

  private collectStderr(chunk: string): void {
    const lines = (this.stderrPartial + chunk).split('\n');
    this.stderrPartial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') this.pushStderrLine(line);
  }

  private pushStderrLine(line: string): void {
    // ffmpeg can print very long lines (filter graphs); keep the tail bounded.
    this.stderrLines.push(line.length > 1000 ? `${line.slice(0, 1000)}…` : line);
    if (this.stderrLines.length > this.opts.stderrTailLines) this.stderrLines.shift();
  }

  private onChildExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stderrPartial.trim() !== '') this.pushStderrLine(this.stderrPartial);
    this.stderrPartial = '';
    if (this.drainTimer) {
      clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    if (this.killTimer) {
      clearTimeout(this.killTimer);
      this.killTimer = null;
    }
    this.child = null;
    const ranForMs = Date.now() - this.childStartedAt;
    const restarting = this.state === 'running';
    let restartInMs = 0;
    if (restarting) {
      const policy = this.opts.restart;
      if (ranForMs >= policy.stableAfterMs) this.nextDelayMs = policy.initialDelayMs;
      restartInMs = this.nextDelayMs;
      this.nextDelayMs = Math.min(this.nextDelayMs * policy.factor, policy.maxDelayMs);
      this.state = 'backoff';
    } else {
      this.state = 'stopped';
    }
    const event: ExitedEvent = {
      pid: child.pid ?? null,
      code,
      signal,
      restarting,
      restartInMs,
      stderrTail: this.stderrLines.join('\n'),
      ranForMs,
    };
    this.lastExit = event;
    if (restarting) {
      this.logger?.warn('ffmpeg exited unexpectedly, restarting', { pid: event.pid, code, signal, restartInMs, stderrTail: event.stderrTail });
      this.restartTimer = setTimeout(() => {
        this.restarts += 1;
        this.state = 'running';
        this.spawnOnce();
      }, restartInMs);
    } else {
      this.logger?.info('ffmpeg stopped', { pid: event.pid, code, signal });
    }
    this.emit('exited', event);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
