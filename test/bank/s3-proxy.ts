/**
 * A loopback HTTP proxy in front of the test S3 server, to make it misbehave on purpose:
 * answer some requests itself (a server that ignores conditional writes, a 503), cut
 * connections, or change the answers' headers (a server clock that is off). Requests are
 * forwarded unchanged, Host included, so their signatures still hold.
 */
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Verdict =
  | 'forward'
  /** Close the connection without an answer (a reset). */
  | 'reset'
  /** Never answer, keeping the connection open (a server that hangs). */
  | 'hang'
  | { status: number; headers?: Record<string, string>; body?: string };

export interface ProxyOptions {
  /** What to do with a request; default 'forward'. */
  onRequest?: (req: IncomingMessage, body: Buffer) => Verdict;
  /** Changes the headers of a forwarded answer in place. */
  onResponseHeaders?: (headers: Record<string, string | string[] | undefined>) => void;
}

export interface S3Proxy {
  endpoint: string;
  /** Requests seen, in order: `METHOD path`. */
  requests: string[];
  close(): Promise<void>;
}

export async function startProxy(target: string, options: ProxyOptions = {}): Promise<S3Proxy> {
  const to = new URL(target);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push(`${req.method} ${req.url}`);
      const verdict = options.onRequest?.(req, body) ?? 'forward';
      if (verdict === 'reset') {
        req.socket.destroy();
        return;
      }
      if (verdict === 'hang') return;
      if (verdict !== 'forward') {
        res.writeHead(verdict.status, { date: new Date().toUTCString(), ...verdict.headers });
        res.end(verdict.body ?? '');
        return;
      }
      const upstream = request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          const headers = { ...answer.headers };
          options.onResponseHeaders?.(headers);
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The XML body S3 sends with an error. */
export function s3ErrorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}
