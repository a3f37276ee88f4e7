// A raw connection through an HTTP proxy's CONNECT, for the two places that speak to a server
// without undici: the telemetry connection (opened early, written to by hand) and the look at
// an untrusted certificate that names its issuer in an error.
import { Buffer } from "node:buffer";
import { connect as netConnect, type Socket } from "node:net";

export function whenConnected(socket: Socket, ready: "connect" | "secureConnect"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once(ready, () => resolve(socket));
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
}

export function defaultPort(url: URL): number {
  return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

export function basicAuth(proxy: URL): string | null {
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

/** A plain connection to the proxy itself. */
export function connectToProxy(proxy: URL): Promise<Socket> {
  return whenConnected(
    netConnect({ host: proxy.hostname.replace(/^\[|\]$/g, ""), port: defaultPort(proxy) }),
    "connect",
  );
}

/** A socket tunnelled through the proxy to host:port, ready for TLS. */
export async function tunnelThrough(proxy: URL, host: string, port: number): Promise<Socket> {
  const socket = await connectToProxy(proxy);
  const auth = basicAuth(proxy);
  socket.write(
    `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`,
  );
  try {
    await tunnelAnswer(socket);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return socket;
}
