// The only module that writes to the terminal. --quiet, --verbose and --json change this
// module's behaviour and nothing else. Human output goes to stderr except the final
// summary; under --json, stdout carries exactly one JSON object.
import type { InstallError } from "../errors.js";
import type { OutputMode } from "../options.js";
import { printable, safeJson } from "../text.js";

export interface Progress {
  update(received: number, total: number | undefined): void;
  done(): void;
  fail(): void;
}

/** A step that may take more than a second, said while it runs. */
export interface Step {
  /** It finished; on a terminal its line stays, ticked. */
  done(): void;
  /** It did not finish; its line goes (the error says what happened). */
  stop(): void;
}

interface Spinner {
  text: string;
  start(): Spinner;
  succeed(text?: string): Spinner;
  fail(text?: string): Spinner;
  stop(): Spinner;
  clear(): Spinner;
  render(): Spinner;
}

/** Binary units throughout, named as such: 1 KiB = 1024 B. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/**
 * A line that fits `width` columns, so the terminal never wraps it (a wrapped line breaks the
 * spinner): the full text, else the short one (without the file name), else the short one cut.
 */
function fitTo(width: number, full: string, short = full): string {
  if (width <= 1 || full.length <= width) return full;
  return short.length <= width ? short : `${short.slice(0, width - 1)}…`;
}

/**
 * A line wrapped to the terminal between words, never inside one. In "  NAME   meaning" (help's
 * lists) the meaning continues under its first column, or four columns in where that is too far.
 */
export function wrapLine(line: string, columns: number): string {
  if (line.length <= columns) return line;
  // "  NAME   meaning": the meaning's column; a name wider than the terminal is wrapped as words.
  const found = /^(\s*\S+(?: \S+)*\s{2,})/.exec(line);
  const gap = found && found[1].trimEnd().length <= columns ? found : null;
  const prefix = gap ? gap[1] : (/^\s*/.exec(line)?.[0] ?? "");
  // Help's lists hang under the meaning; a sentence's next line is indented two columns.
  const hang = gap && prefix.length <= columns / 2 ? prefix.length : gap ? 4 : prefix.length + 2;
  const lines: string[] = [];
  let current = prefix;
  let first = true;
  for (const word of line.slice(prefix.length).trim().split(/\s+/)) {
    const next = first ? `${current}${word}` : `${current} ${word}`;
    // The name alone already fills the line: its meaning starts on the next one.
    const wrap = first ? next.length > columns && current.trim() !== "" : next.length > columns;
    if (wrap) {
      lines.push(current.trimEnd());
      current = `${" ".repeat(hang)}${word}`;
    } else {
      current = next;
    }
    first = false;
  }
  return [...lines, current].join("\n");
}

export class Ui {
  private readonly color: boolean;
  private readonly interactive: boolean;
  /** The spinner on screen, which other lines must not tear. */
  private active: Spinner | null = null;

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
    if (this.mode === "normal" || this.mode === "verbose") this.above(`${this.fit(message)}\n`);
  }

  /** On a terminal, a message wraps at its width between words, not inside one. */
  private fit(message: string): string {
    return this.interactive ? wrapLine(message, this.stderr.columns ?? 80) : message;
  }

  /** Writes a line above a running spinner, which is drawn again below it. */
  private above(text: string): void {
    this.active?.clear();
    this.stderr.write(text);
    this.active?.render();
  }

  /**
   * A step that may take more than a second (the release lookup, checking the binary): a
   * spinner with `text` on a terminal, one plain line otherwise, nothing under --quiet or --json.
   */
  async step(text: string): Promise<Step> {
    if (this.mode === "quiet" || this.mode === "json") return { done() {}, stop() {} };
    if (!this.interactive) {
      this.stderr.write(`${text}...\n`);
      return { done() {}, stop() {} };
    }
    const { default: ora } = await import("ora");
    const spinner: Spinner = ora({
      text: fitTo((this.stderr.columns ?? 80) - 2, text),
      stream: this.stderr,
      color: this.color ? "cyan" : false,
      // As for downloads: raw mode would turn Ctrl-C into a plain byte.
      discardStdin: false,
    }).start();
    this.active = spinner;
    const end = (finish: () => void) => () => {
      if (this.active !== spinner) return;
      this.active = null;
      finish();
    };
    return { done: end(() => spinner.succeed()), stop: end(() => spinner.stop()) };
  }

  /** The final human summary, on stdout. */
  result(message: string): void {
    if (this.mode === "normal" || this.mode === "verbose") this.stdout.write(`${message}\n`);
  }

  /** One line, whatever the message holds. */
  warn(message: string): void {
    if (this.mode !== "json") {
      const text = this.fit(`warning: ${printable(message)}`);
      this.above(`${this.paint("33", "warning:")}${text.slice("warning:".length)}\n`);
    }
  }

  debug(message: string): void {
    if (this.mode === "verbose") this.above(`${this.paint("2", `debug: ${message}`)}\n`);
  }

  /** The telemetry notice: on stderr whatever the mode, even --quiet and --json (it is a promise). */
  notice(message: string): void {
    this.stderr.write(`${this.paint("2", message)}\n`);
  }

  /** Always printed: the user asked for it (telemetry debug mode). */
  raw(message: string): void {
    this.stderr.write(`${message}\n`);
  }

  /** Exactly one error line and one hint line, whatever the messages hold. */
  error(error: InstallError): void {
    this.active?.stop();
    this.active = null;
    this.stderr.write(
      `${this.paint("31", "error:")} ${printable(error.message)}\n  ${this.paint("36", "hint:")} ${printable(error.hint)}\n`,
    );
    if (this.mode === "verbose" && error.cause) {
      const cause = error.cause as Error;
      this.stderr.write(`${this.paint("2", `cause: ${cause.stack ?? String(cause)}`)}\n`);
    }
  }

  json(value: unknown): void {
    this.stdout.write(`${safeJson(value)}\n`);
  }

  /**
   * Download progress for `name`: an ora spinner with bytes, percent, speed and time left on a
   * TTY, never wider than the terminal; a start and an end line otherwise. The end line says
   * what happened: "Downloaded NAME 19.1 MiB in 5.2 s (3.7 MiB/s)".
   */
  async progress(name: string): Promise<Progress> {
    const startedAt = Date.now();
    let last = { received: 0, total: undefined as number | undefined };
    const elapsed = () => Math.max((Date.now() - startedAt) / 1000, 0.001);
    const running = (withName: boolean) => {
      const { received, total } = last;
      const rate = received / elapsed();
      const of = total
        ? ` / ${formatBytes(total)} ${Math.min(100, Math.floor((received / total) * 100))}%`
        : "";
      const left =
        total && rate > 0 && received < total ? `, ${formatSeconds((total - received) / rate)} left` : "";
      return `Downloading${withName ? ` ${name}` : ""} ${formatBytes(received)}${of} (${formatBytes(rate)}/s${left})`;
    };
    const finished = (withName = true) =>
      `Downloaded${withName ? ` ${name}` : ""} ${formatBytes(last.received)} in ${formatSeconds(elapsed())} (${formatBytes(last.received / elapsed())}/s)`;
    if (this.mode === "quiet" || this.mode === "json") return { update() {}, done() {}, fail() {} };
    if (!this.interactive) {
      this.stderr.write(`Downloading ${name}...\n`);
      return {
        update: (received, total) => {
          last = { received, total };
        },
        done: () => this.stderr.write(`${finished()}\n`),
        fail: () => {},
      };
    }
    // ora draws "<spinner> <text>": the text gets the width minus those two columns.
    const width = () => (this.stderr.columns ?? 80) - 2;
    const { default: ora } = await import("ora");
    const spinner: Spinner = ora({
      text: fitTo(width(), `Downloading ${name}`, "Downloading"),
      stream: this.stderr,
      color: this.color ? "cyan" : false,
      // ora's default puts the terminal in raw mode to swallow keys, and raw mode also turns
      // Ctrl-C into a plain byte: the install could then not be interrupted at all.
      discardStdin: false,
    }).start();
    let lastPaint = 0;
    return {
      update: (received, total) => {
        last = { received, total };
        const now = Date.now();
        if (now - lastPaint < 80) return;
        lastPaint = now;
        spinner.text = fitTo(width(), running(true), running(false));
      },
      done: () => spinner.succeed(fitTo(width(), finished(true), finished(false))),
      fail: () => spinner.stop(),
    };
  }
}

/** Says a failure (and under --json prints it as the one document); returns its exit code. */
export function reportFailure(ui: Ui, error: InstallError): number {
  ui.error(error);
  if (ui.mode === "json") {
    ui.json({
      ok: false,
      error: { code: error.kind, exitCode: error.exitCode, message: error.message, hint: error.hint },
    });
  }
  return error.exitCode;
}
