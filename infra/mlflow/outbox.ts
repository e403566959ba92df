/**
 * The MLflow outbox: what training wants mirrored, appended to JSON-lines segment files so that
 * logging never waits on the network and nothing is lost when MLflow is down or the process dies.
 *
 * - `append` writes one line per entry to the active segment with a plain write(2): it survives
 *   a crash of this process at once; fsync happens when a segment is sealed and on close, so a
 *   power loss costs at most the unsealed tail.
 * - A process never appends to a segment it did not create: after a crash, the old active
 *   segment (maybe with a torn last line) is read as a sealed one, and the torn line is skipped.
 * - A segment is removed only when the mirror has recorded the effect of every entry in it.
 * - One process per outbox: a lock file holds the owner's pid; a dead owner's lock is taken over.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync, writeFileSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../../core/errors.js';
import { pidAlive } from '../process.js';

const pointSchema = z.object({
  name: z.string().min(1),
  step: z.number(),
  value: z.number(),
  /** ms since the epoch; sent as the metric's timestamp, so a resend is byte-identical. */
  time: z.number(),
});

export const outboxEntrySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('run'),
    trialId: z.string().min(1),
    study: z.string().min(1),
    runName: z.string(),
    tags: z.record(z.string(), z.string()),
    params: z.record(z.string(), z.string()),
    time: z.number().optional(),
    /** The tag that finds the run again (default gantry.trial_id). */
    lookup: z.string().optional(),
    /** The mirror's key of the parent run. */
    parent: z.string().optional(),
  }),
  z.object({ type: z.literal('metrics'), trialId: z.string().min(1), points: z.array(pointSchema) }),
  z.object({
    type: z.literal('status'),
    trialId: z.string().min(1),
    status: z.enum(['RUNNING', 'FINISHED', 'FAILED', 'KILLED']),
    time: z.number().optional(),
  }),
  z.object({
    type: z.literal('artifact'),
    trialId: z.string().min(1),
    /** Where it goes, relative to the run's artifact root. */
    path: z.string().min(1),
    /** A local path or a store key, read when the entry is sent. */
    file: z.string().min(1),
  }),
]);

export type OutboxEntry = z.output<typeof outboxEntrySchema>;
export type OutboxPoint = z.output<typeof pointSchema>;

const SEGMENT = /^seg-(\d{12})\.jsonl$/;

interface SegmentInfo {
  entries: number;
  byType: Record<OutboxEntry['type'], number>;
}

const emptyCounts = (): SegmentInfo => ({ entries: 0, byType: { run: 0, metrics: 0, status: 0, artifact: 0 } });

export class MlflowOutbox {
  readonly dir: string;
  private readonly maxSegmentBytes: number;
  private readonly lockPath: string;
  private readonly info = new Map<string, SegmentInfo>();
  private sealedNames: string[] = [];
  private active?: { name: string; fd: number; bytes: number };
  private next: number;
  private closed = false;

  constructor(dir: string, opts: { maxSegmentBytes?: number } = {}) {
    this.dir = dir;
    this.maxSegmentBytes = opts.maxSegmentBytes ?? 8 * 1024 * 1024;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UserError(`cannot create the MLflow outbox ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: 'set GANTRY_HOME to a writable directory' });
    }
    this.lockPath = join(dir, 'lock');
    takeLock(this.lockPath);
    const names = readdirSync(dir).filter((n) => SEGMENT.test(n)).sort();
    for (const n of names) {
      this.sealedNames.push(n);
      this.info.set(n, countLines(readFileSync(join(dir, n), 'utf8')));
    }
    const last = names[names.length - 1];
    this.next = last ? Number(SEGMENT.exec(last)![1]) + 1 : 1;
  }

  /** Append entries as JSON lines to the active segment; synchronous and fast (no fsync). */
  append(entries: OutboxEntry[]): void {
    if (this.closed) throw new Error('the MLflow outbox is closed');
    if (entries.length === 0) return;
    if (this.active && this.active.bytes >= this.maxSegmentBytes) this.seal();
    const a = this.active ?? this.openSegment();
    // `type` first: counting a segment's entries on open is then a prefix match, not a parse.
    const buf = Buffer.from(entries.map(({ type, ...rest }) => JSON.stringify({ type, ...rest })).join('\n') + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(a.fd, buf, off, buf.length - off);
    a.bytes += buf.length;
    const c = this.info.get(a.name)!;
    for (const e of entries) {
      c.entries++;
      c.byType[e.type]++;
    }
  }

  /** Entries not yet removed (sent or not), in all segments. */
  pending(): number {
    let n = 0;
    for (const c of this.info.values()) n += c.entries;
    return n;
  }

  pendingByType(): Record<OutboxEntry['type'], number> {
    const out = emptyCounts().byType;
    for (const c of this.info.values()) for (const k of Object.keys(out) as OutboxEntry['type'][]) out[k] += c.byType[k];
    return out;
  }

  /** Sealed segments, oldest first: their content is final. */
  segments(): string[] {
    return [...this.sealedNames];
  }

  /** Whether the active segment has entries (so sealing it would give the reader more to do). */
  hasActive(): boolean {
    return !!this.active && this.active.bytes > 0;
  }

  /** Seal the active segment (fsync, close); later appends start a new one. Returns whether there was one. */
  seal(): boolean {
    const a = this.active;
    if (!a) return false;
    this.active = undefined;
    fsyncSync(a.fd);
    closeSync(a.fd);
    this.sealedNames.push(a.name);
    return true;
  }

  /** Parsed entries of a sealed segment; unreadable lines (a torn tail after a crash) are counted, not returned. */
  async read(segment: string): Promise<{ entries: OutboxEntry[]; skipped: number }> {
    const text = await readFile(join(this.dir, segment), 'utf8');
    const entries: OutboxEntry[] = [];
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const r = outboxEntrySchema.safeParse(JSON.parse(line));
        if (r.success) entries.push(r.data);
        else skipped++;
      } catch {
        skipped++;
      }
    }
    return { entries, skipped };
  }

  /** Remove a sealed segment whose every entry has been dealt with. */
  async remove(segment: string): Promise<void> {
    await rm(join(this.dir, segment), { force: true });
    await syncDir(this.dir);
    this.sealedNames = this.sealedNames.filter((n) => n !== segment);
    this.info.delete(segment);
  }

  /** fsync the active segment without sealing it. */
  sync(): void {
    if (this.active) fsyncSync(this.active.fd);
  }

  close(): void {
    if (this.closed) return;
    if (this.active) {
      fsyncSync(this.active.fd);
      closeSync(this.active.fd);
      this.sealedNames.push(this.active.name);
      this.active = undefined;
    }
    this.closed = true;
    rmSync(this.lockPath, { force: true });
  }

  private openSegment(): { name: string; fd: number; bytes: number } {
    const name = `seg-${String(this.next++).padStart(12, '0')}.jsonl`;
    const fd = openSync(join(this.dir, name), 'wx');
    this.active = { name, fd, bytes: 0 };
    this.info.set(name, emptyCounts());
    return this.active;
  }
}

function countLines(text: string): SegmentInfo {
  const c = emptyCounts();
  for (const line of text.split('\n')) {
    const m = /^\{"type":"(run|metrics|status|artifact)"/.exec(line);
    if (!m) continue;
    c.entries++;
    c.byType[m[1] as OutboxEntry['type']]++;
  }
  return c;
}

/** Another live process owns the outbox (and sends its items itself). */
export class OutboxInUse extends UserError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the MLflow outbox ${dir} is in use by process ${pid}`, { hint: 'wait for it (gantry run or gantry sync mlflow) to finish' });
  }
}

function takeLock(path: string): void {
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UserError(`cannot lock the MLflow outbox ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: 'set GANTRY_HOME to a writable directory' });
      }
      let pid = 0;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        // vanished meanwhile: try again
      }
      // The same pid is a restart within this process (tests) or a reused pid: the old owner is gone.
      if (pid && pid !== process.pid && pidAlive(pid)) throw new OutboxInUse(path.replace(/\/lock$/, ''), pid);
      try {
        if (statSync(path).isFile()) writeFileSync(path, String(process.pid));
        return;
      } catch {
        // raced with its removal: try again
      }
    }
  }
  throw new UserError(`could not lock the MLflow outbox ${path}`);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
