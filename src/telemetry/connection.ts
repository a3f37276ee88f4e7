// One connection to the telemetry endpoint, opened as soon as consent is settled, so that DNS,
// TCP, the proxy's CONNECT and TLS (a round trip each) overlap the install instead of following
// it, and kept alive for both events. A request counts as delivered once it is written to the
// socket: the events are written back to back (pipelined). Answers are read for their status
// and Location only: a moved endpoint (307, 308) is followed by the client, and the connection
// is closed politely.
import { Buffer } from "node:buffer";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { trustedContext } from "../net/trust.js";
import { basicAuth, connectToProxy, defaultPort, tunnelThrough, whenConnected } from "../net/tunnel.js";
import { proxyForUrl } from "../net/url-policy.js";

/** What the endpoint answered to one request: only what following a move needs. */
export interface TelemetryAnswer {
  status: number;
  location?: string;
}

/**
 * Splits the bytes of pipelined HTTP/1.1 responses (read as latin1, one character per byte)
 * into answers, skipping bodies by Content-Length or chunked framing; `rest` is what is not
 * yet a whole response. A body that runs to the connection's end ends the reading.
 */
export function readAnswers(buffered: string): { answers: TelemetryAnswer[]; rest: string } {
  const answers: TelemetryAnswer[] = [];
  let rest = buffered;
  for (;;) {
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd < 0) break;
    const lines = rest.slice(0, headEnd).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    if (!status) return { answers, rest: "" };
    const headers = new Map(
      lines.slice(1).map((line): [string, string] => {
        const colon = line.indexOf(":");
        return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
      }),
    );
    const bodyStart = headEnd + 4;
    if (status < 200) {
      rest = rest.slice(bodyStart); // 100 Continue and the like: the answer is still to come
      continue;
    }
    const bodyEnd = /chunked/i.test(headers.get("transfer-encoding") ?? "")
      ? chunkedEnd(rest, bodyStart)
      : lengthEnd(rest, bodyStart, headers.get("content-length"), status);
    if (bodyEnd === null) break;
    answers.push({ status, location: headers.get("location") });
    if (bodyEnd === Number.POSITIVE_INFINITY) return { answers, rest: "" };
    rest = rest.slice(bodyEnd);
  }
  return { answers, rest };
}

/** Where a body of Content-Length ends; null while incomplete; Infinity when it runs to the close. */
function lengthEnd(text: string, start: number, length: string | undefined, status: number): number | null {
  const bytes = length !== undefined ? Number(length) : status === 204 || status === 304 ? 0 : Number.NaN;
  if (!Number.isFinite(bytes)) return Number.POSITIVE_INFINITY;
  return text.length >= start + bytes ? start + bytes : null;
}

/** Where a chunked body (and its trailer) ends; null while incomplete. */
function chunkedEnd(text: string, start: number): number | null {
  let at = start;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(text.slice(at, lineEnd), 16);
    if (Number.isNaN(size)) return Number.POSITIVE_INFINITY;
    if (size === 0) {
      const end = text.indexOf("\r\n\r\n", lineEnd);
      return end < 0 ? null : end + 4;
    }
    if (text.length < lineEnd + 2 + size + 2) return null;
    at = lineEnd + 2 + size + 2;
  }
}

export class TelemetryConnection {
  private socket: Promise<Socket>;
  private readonly proxy: URL | null;
  private buffered = "";
  /** One per request written and not yet answered, in order. */
  private readonly waiting: ((answer: TelemetryAnswer | null) => void)[] = [];

  constructor(
    readonly url: URL,
    private readonly env: NodeJS.ProcessEnv,
    private readonly userAgent: string,
    private readonly caFile?: string,
  ) {
    this.proxy = proxyForUrl(url, env);
    this.socket = this.open();
    this.socket.catch(() => {}); // a failure is seen by send(), or never matters
  }

  /**
   * Writes one POST and resolves once it is in the socket (reconnecting once if the server closed
   * it), with its answer still to come: null when the connection ends first.
   */
  async send(body: string): Promise<{ answer: Promise<TelemetryAnswer | null> }> {
    let socket = await this.socket;
    if (socket.destroyed || socket.writableEnded) {
      this.socket = this.open();
      socket = await this.socket;
    }
    // Through a proxy to plain http (loopback tests), the request goes to the proxy in absolute form.
    const absolute = this.proxy !== null && this.url.protocol === "http:";
    const auth = absolute && this.proxy ? basicAuth(this.proxy) : null;
    const head = [
      `POST ${absolute ? this.url.href : `${this.url.pathname}${this.url.search}`} HTTP/1.1`,
      `Host: ${this.url.host}`,
      `User-Agent: ${this.userAgent}`,
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Connection: keep-alive",
      ...(auth ? [`Proxy-Authorization: ${auth}`] : []),
    ].join("\r\n");
    const answer = new Promise<TelemetryAnswer | null>((resolve) => this.waiting.push(resolve));
    await new Promise<void>((resolve, reject) =>
      socket.write(`${head}\r\n\r\n${body}`, (error) => (error ? reject(error) : resolve())),
    );
    return { answer };
  }

  /** Resolves once every request written has been answered (or the connection has ended). */
  answered(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    const last = this.waiting.length - 1;
    const answered = new Promise<void>((resolve) => {
      const resolveLast = this.waiting[last];
      this.waiting[last] = (answer) => {
        resolveLast(answer);
        resolve();
      };
    });
    return answered;
  }

  close(): void {
    void this.socket.then(
      (socket) => socket.destroy(),
      () => {},
    );
  }

  private async open(): Promise<Socket> {
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    // The installer's own trust (net/trust.ts): a TLS-inspecting proxy's root counts here too.
    const secureContext = trustedContext(this.env, this.caFile);
    const port = defaultPort(this.url);
    let socket: Socket;
    if (!this.proxy) {
      socket =
        this.url.protocol === "https:"
          ? await whenConnected(
              tlsConnect({
                host,
                port,
                servername: isIP(host) ? undefined : host,
                ALPNProtocols: ["http/1.1"],
                secureContext,
              }),
              "secureConnect",
            )
          : await whenConnected(netConnect({ host, port }), "connect");
    } else {
      if (this.url.protocol === "http:") {
        socket = await connectToProxy(this.proxy);
      } else {
        const proxySocket = await tunnelThrough(this.proxy, host, port);
        socket = await whenConnected(
          tlsConnect({
            socket: proxySocket,
            servername: isIP(host) ? undefined : host,
            ALPNProtocols: ["http/1.1"],
            secureContext,
          }),
          "secureConnect",
        );
      }
    }
    socket.on("data", (chunk: Buffer) => {
      const { answers, rest } = readAnswers(this.buffered + chunk.toString("latin1"));
      // Only heads are kept between reads; a flood of body is not buffered.
      this.buffered = rest.slice(0, 65_536);
      for (const answer of answers) this.waiting.shift()?.(answer);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      for (const resolve of this.waiting.splice(0)) resolve(null);
    });
    return socket;
  }
}
