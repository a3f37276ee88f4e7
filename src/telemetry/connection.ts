// One connection to the telemetry endpoint, opened as soon as consent is settled, so that DNS,
// TCP, the proxy's CONNECT and TLS (a round trip each) overlap the install instead of following
// it, and kept alive for both events. A request counts as delivered once it is written to the
// socket: the events are written back to back (pipelined), and answers are read only so that
// the connection can be closed politely.
import { Buffer } from "node:buffer";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { proxyForUrl } from "../net/url-policy.js";

function whenConnected(socket: Socket, ready: "connect" | "secureConnect"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once(ready, () => resolve(socket));
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
}

function defaultPort(url: URL): number {
  return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

function basicAuth(proxy: URL): string | null {
  if (!proxy.username) return null;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString("base64")}`;
}

/** Reads a proxy's answer to CONNECT; anything but 2xx is a failure. */
function tunnelAnswer(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > 16_384) reject(new Error("proxy answer too long"));
        return;
      }
      socket.off("data", onData);
      if (/^HTTP\/1\.[01] 2\d\d/.test(head)) resolve();
      else reject(new Error(`proxy refused the tunnel: ${head.split("\r\n")[0]}`));
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

export class TelemetryConnection {
  private socket: Promise<Socket>;
  private readonly proxy: URL | null;
  private writtenCount = 0;
  private answerCount = 0;
  private onAnswer: (() => void) | null = null;

  constructor(
    private readonly url: URL,
    env: NodeJS.ProcessEnv,
    private readonly userAgent: string,
  ) {
    this.proxy = proxyForUrl(url, env);
    this.socket = this.open();
    this.socket.catch(() => {}); // a failure is seen by send(), or never matters
  }

  /** Writes one POST; resolves once it is in the socket, reconnecting once if the server closed it. */
  async send(body: string): Promise<void> {
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
    this.writtenCount += 1;
    await new Promise<void>((resolve, reject) =>
      socket.write(`${head}\r\n\r\n${body}`, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Resolves once every request written has been answered (or the connection has ended). */
  answered(): Promise<void> {
    if (this.answerCount >= this.writtenCount) return Promise.resolve();
    return new Promise((resolve) => {
      this.onAnswer = () => {
        if (this.answerCount >= this.writtenCount) resolve();
      };
      void this.socket.then(
        (socket) => socket.once("close", resolve),
        () => resolve(),
      );
    });
  }

  close(): void {
    void this.socket.then(
      (socket) => socket.destroy(),
      () => {},
    );
  }

  private async open(): Promise<Socket> {
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
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
              }),
              "secureConnect",
            )
          : await whenConnected(netConnect({ host, port }), "connect");
    } else {
      const proxySocket = await whenConnected(
        netConnect({ host: this.proxy.hostname.replace(/^\[|\]$/g, ""), port: defaultPort(this.proxy) }),
        "connect",
      );
      if (this.url.protocol === "http:") {
        socket = proxySocket;
      } else {
        const auth = basicAuth(this.proxy);
        proxySocket.write(
          `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`,
        );
        await tunnelAnswer(proxySocket);
        socket = await whenConnected(
          tlsConnect({
            socket: proxySocket,
            servername: isIP(host) ? undefined : host,
            ALPNProtocols: ["http/1.1"],
          }),
          "secureConnect",
        );
      }
    }
    socket.on("data", (chunk: Buffer) => {
      // Each answer starts with a status line; its body is never needed.
      this.answerCount += chunk.toString("latin1").match(/(?:^|\r\n)HTTP\/1\.[01] \d{3}/g)?.length ?? 0;
      this.onAnswer?.();
    });
    socket.on("error", () => {});
    return socket;
  }
}
