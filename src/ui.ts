// The only module that writes to the terminal. --quiet, --verbose and --json change this
// module's behaviour and nothing else. Human output goes to stderr except the final
// summary; under --json, stdout carries exactly one JSON object.
import type { InstallError } from "./errors.js";

export type OutputMode = "normal" | "quiet" | "verbose" | "json";

export interface Progress {
  update(received: number, total: number | undefined): void;
  done(): void;
  fail(): void;
}

interface Spinner {
  text: string;
  start(): Spinner;
  succeed(text?: string): Spinner;
  fail(text?: string): Spinner;
  stop(): Spinner;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

export class Ui {
  private readonly color: boolean;
  private readonly interactive: boolean;

  constructor(
    readonly mode: OutputMode,
    env: NodeJS.ProcessEnv = process.env,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    // A TTY that reports no width (some containers) would make the spinner's line count infinite.
    this.interactive = Boolean(stderr.isTTY) && !env.CI && env.TERM !== "dumb" && (stderr.columns ?? 0) > 0;
    this.color = this.interactive && !env.NO_COLOR;
  }

  private paint(code: string, text: string): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  /** Progress and status lines: stderr, silent under --quiet and --json. */
  info(message: string): void {
    if (this.mode === "normal" || this.mode === "verbose") this.stderr.write(`${message}\n`);
  }

  /** The final human summary, on stdout. */
  result(message: string): void {
    if (this.mode === "normal" || this.mode === "verbose") this.stdout.write(`${message}\n`);
  }

  warn(message: string): void {
    if (this.mode !== "json") this.stderr.write(`${this.paint("33", "warning:")} ${message}\n`);
  }

  debug(message: string): void {
    if (this.mode === "verbose") this.stderr.write(`${this.paint("2", `debug: ${message}`)}\n`);
  }

  /** The telemetry notice: shown before the first event, never under --quiet or --json. */
  notice(message: string): void {
    this.info(this.paint("2", message));
  }

  /** Always printed: the user asked for it (telemetry debug mode). */
  raw(message: string): void {
    this.stderr.write(`${message}\n`);
  }

  error(error: InstallError): void {
    this.stderr.write(
      `${this.paint("31", "error:")} ${error.message}\n  ${this.paint("36", "hint:")} ${error.hint}\n`,
    );
    if (this.mode === "verbose" && error.cause) {
      const cause = error.cause as Error;
      this.stderr.write(`${this.paint("2", `cause: ${cause.stack ?? String(cause)}`)}\n`);
    }
  }

  json(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** An ora spinner with bytes, percent and speed on a TTY; a start and an end line otherwise. */
  async progress(label: string): Promise<Progress> {
    const startedAt = Date.now();
    const describe = (received: number, total: number | undefined) => {
      const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
      const percent = total ? ` ${Math.min(100, Math.floor((received / total) * 100))}%` : "";
      const of = total ? ` / ${formatBytes(total)}` : "";
      return `${label} ${formatBytes(received)}${of}${percent} (${formatBytes(received / seconds)}/s)`;
    };
    if (this.mode === "quiet" || this.mode === "json") return { update() {}, done() {}, fail() {} };
    if (!this.interactive) {
      this.stderr.write(`${label}...\n`);
      let last = { received: 0, total: undefined as number | undefined };
      return {
        update: (received, total) => {
          last = { received, total };
        },
        done: () => this.stderr.write(`${describe(last.received, last.total)} done\n`),
        fail: () => {},
      };
    }
    const { default: ora } = await import("ora");
    const spinner: Spinner = ora({
      text: label,
      stream: this.stderr,
      color: this.color ? "cyan" : false,
      // ora's default puts the terminal in raw mode to swallow keys, and raw mode also turns
      // Ctrl-C into a plain byte: the install could then not be interrupted at all.
      discardStdin: false,
    }).start();
    let lastPaint = 0;
    let last = { received: 0, total: undefined as number | undefined };
    return {
      update: (received, total) => {
        last = { received, total };
        const now = Date.now();
        if (now - lastPaint < 80) return;
        lastPaint = now;
        spinner.text = describe(received, total);
      },
      done: () => spinner.succeed(describe(last.received, last.total)),
      fail: () => spinner.stop(),
    };
  }
}
