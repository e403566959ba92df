/**
 * A fault-injecting HTTP proxy on loopback in front of an S3 server (MinIO or s3rver). It forwards
 * every request with its headers unchanged — Host included, because SigV4 signs it and the server
 * checks the signature against the Host it receives — and streams bodies both ways. On top of that:
 * a log of every request, answering chosen requests with an S3 error, holding chosen requests
 * unanswered, and stopping at once like a crashed server, then coming back on the same port.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse, type ClientRequest } from 'node:http';

export interface S3TestRequest {
  method: string;
  /** The raw path, e.g. /bucket/pre/fix/key. */
  path: string;
  query: Record<string, string | string[] | undefined>;
}

export type RequestMatch = (r: S3TestRequest) => boolean;

export interface HeldRequests {
  /** Resolves with the first matching request. */
  reached: Promise<S3TestRequest>;
  /** Stop holding: held connections are cut, later matches are forwarded. */
  release(): void;
}

// Hop-by-hop headers belong to one connection, and SigV4 never signs them. `expect` goes too: this
// proxy has already answered 100-continue itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'expect', 'upgrade', 'te', 'trailer']);

function endToEnd(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}

function parse(req: IncomingMessage): S3TestRequest {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  return { method: req.method ?? 'GET', path: url.pathname, query };
}

function xml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class S3FaultProxy {
  /** Every request received, in order (fault tests count retries with it). */
  readonly requests: S3TestRequest[] = [];
  private server?: Server;
  private agent = new Agent({ keepAlive: true });
  private readonly upstreams = new Set<ClientRequest>();
  private holds: { match: RequestMatch; reached: (r: S3TestRequest) => void; held: IncomingMessage[] }[] = [];
  private faults: { match: RequestMatch; status: number; code: string; left: number }[] = [];
  private listeners: ((r: S3TestRequest) => void)[] = [];

  private constructor(private readonly upstream: URL, public port: number) {}

  /** A proxy to `upstream` (http://host:port) on 127.0.0.1:`port` (default a free one). */
  static async start(upstream: string, port = 0): Promise<S3FaultProxy> {
    const p = new S3FaultProxy(new URL(upstream), port);
    await p.listen();
    return p;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Call `listener` on every request as it arrives (before it is answered); returns a remover. */
  onRequest(listener: (r: S3TestRequest) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Matching requests are never forwarded nor answered, until release() or stop(). */
  holdRequests(match: RequestMatch): HeldRequests {
    let reached!: (r: S3TestRequest) => void;
    const promise = new Promise<S3TestRequest>((r) => (reached = r));
    const hold = { match, reached, held: [] as IncomingMessage[] };
    this.holds.push(hold);
    return {
      reached: promise,
      release: () => {
        this.holds = this.holds.filter((h) => h !== hold);
        for (const req of hold.held) req.socket.destroy();
      },
    };
  }

  /** Answer matching requests (the next `times` of them) with an S3 error instead of forwarding them; returns a remover. */
  failRequests(match: RequestMatch, status = 500, code = 'InternalError', times = Infinity): () => void {
    const fault = { match, status, code, left: times };
    this.faults.push(fault);
    return () => {
      this.faults = this.faults.filter((f) => f !== fault);
    };
  }

  /** Stop at once, like a crashed server: open connections are cut, held and forwarded requests dropped. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections();
    for (const up of this.upstreams) up.destroy();
    this.agent.destroy();
    this.holds = [];
    await closed;
  }

  /** Listen again on the same port (the server behind it kept its objects and uploads). */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  private async listen(): Promise<void> {
    this.agent = new Agent({ keepAlive: true });
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const r = parse(req);
    this.requests.push(r);
    for (const l of this.listeners) l(r);
    const holds = this.holds.filter((h) => h.match(r));
    if (holds.length) {
      for (const h of holds) {
        h.held.push(req);
        h.reached(r);
      }
      return;
    }
    const fault = this.faults.find((f) => f.left > 0 && f.match(r));
    if (fault) {
      fault.left--;
      const body = r.method === 'HEAD' ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xml(fault.code)}</Code><Message>injected by the test</Message></Error>`;
      req.resume(); // read the upload's body, so that the client reads the answer
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    this.forward(req, res);
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const up = request(
      { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers: endToEnd(req.rawHeaders), agent: this.agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders));
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    this.upstreams.add(up);
    up.on('close', () => this.upstreams.delete(up));
    // The server behind went away: the client sees its connection dropped, as it would without a proxy.
    up.on('error', () => res.destroy());
    req.on('error', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }
}
