/**
 * Progress of a run: trials done/total, the current step, rate and ETA. On a terminal it redraws
 * one status line; otherwise (CI, logs, pipes) it prints a plain line per event.
 */
import type { ExecEvent } from '../executors/embedded.js';
import { duration } from './format.js';

export class Progress {
  private total = 0;
  private done = 0;
  private failed = 0;
  private readonly started = Date.now();
  private current = '';
  private lastDraw = 0;
  private readonly stepStart = new Map<string, { t: number; done: number }>();
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly verbose = false) {
    this.tty = !!out.isTTY && process.env.CI !== 'true';
  }

  handle = (e: ExecEvent): void => {
    switch (e.type) {
      case 'start':
        this.total = e.trials;
        this.line(`study ${e.study}: ${e.trials} trials, ${e.steps} distinct steps`);
        break;
      case 'step-start':
        this.current = `${e.trialId.slice(0, 8)} ${e.kind}`;
        // Recovery (a retry, a resume) is always worth a line; routine starts only in logs or with -v.
        this.line(`  ${e.kind.padEnd(8)} ${e.key.slice(0, 12)} ran: ${e.reason}`, this.verbose || !this.tty || /^(retry|resumed|previous|outputs)/.test(e.reason));
        this.draw();
        break;
      case 'step-progress': {
        // Per-step rate and time left, from the first progress report of this step on.
        const first = (this.stepStart.get(e.key) ?? this.stepStart.set(e.key, { t: Date.now(), done: e.done }).get(e.key))!;
        const secs = (Date.now() - first.t) / 1000;
        const rate = secs > 0.5 ? (e.done - first.done) / secs : 0;
        const left = rate > 0 ? ` ${rate.toFixed(rate < 10 ? 1 : 0)}/s, ${duration(((e.total - e.done) / rate) * 1000)} left` : '';
        this.current = `${e.trialId.slice(0, 8)} ${e.kind} ${e.done}/${e.total}${left}`;
        this.draw();
        break;
      }
      case 'step-done':
        if (e.cached) this.line(`  ${e.kind.padEnd(8)} ${e.key.slice(0, 12)} cached`, this.verbose);
        else this.line(`  ${e.kind.padEnd(8)} ${e.key.slice(0, 12)} done in ${duration(e.durationMs)}`, this.verbose || !this.tty);
        break;
      case 'step-damaged':
        // Never silent: the step runs again, and its damaged record stays in the store.
        this.line(`  warning: ${e.kind} ${e.key.slice(0, 12)} is damaged: ${e.what}; it runs again (its record is kept in steps/${e.key}/damaged/)`);
        break;
      case 'step-wait':
        this.line(`  ${e.kind.padEnd(8)} ${e.key.slice(0, 12)} waiting: leased by ${e.holder} (another run on this store)`);
        break;
      case 'warning':
        this.line(`warning: ${e.message}`);
        break;
      case 'step-retry':
        this.line(`  ${e.kind} ${e.key.slice(0, 12)} attempt ${e.attempt} failed (${e.error}); retrying in ${duration(e.delayMs)}`);
        break;
      case 'trial-end': {
        this.done++;
        if (e.status !== 'done') this.failed++;
        const m = Object.entries(e.metrics).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ');
        this.line(`trial ${e.trialId.slice(0, 8)} ${e.status}${e.error ? `: ${e.error}` : ''} ${m} [${this.done}/${this.total}${this.eta()}]`);
        break;
      }
    }
  };

  private eta(): string {
    const elapsed = Date.now() - this.started;
    if (this.done === 0) return '';
    const rate = this.done / (elapsed / 60000);
    const left = ((this.total - this.done) * elapsed) / this.done;
    return `, ${rate.toFixed(1)} trials/min, ETA ${duration(left)}`;
  }

  private line(text: string, show = true): void {
    if (!show) return;
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(text + '\n');
    this.draw(true);
  }

  private draw(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const text = `[${this.done}/${this.total} trials${this.failed ? `, ${this.failed} failed` : ''}, ${duration(now - this.started)}${this.eta()}] ${this.current}`;
    this.out.write('\r\x1b[K' + text.slice(0, (this.out.columns || 100) - 1)); // a pty may report 0 columns
  }

  finish(): void {
    if (this.tty) this.out.write('\r\x1b[K');
  }
}

/** A one-line bar for work outside a run (reading a dataset): redrawn on a terminal, silent elsewhere. */
export class LoadBar {
  private last = 0;
  private drawn = false;
  private readonly tty: boolean;
  constructor(private readonly out: NodeJS.WriteStream, private readonly what: string) {
    this.tty = !!out.isTTY && process.env.CI !== 'true';
  }
  update = (done: number, total: number): void => {
    if (!this.tty || (Date.now() - this.last < 100 && done < total)) return;
    this.last = Date.now();
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    this.out.write(`\r${this.what} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    this.drawn = true;
  };
  done = (): void => {
    if (this.drawn) this.out.write('\r\x1b[K');
  };
}
