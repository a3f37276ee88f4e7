// Text from outside (a server, an archive, a path) made safe to show: nothing in it can move the
// cursor, start an escape sequence or turn the line around.

/**
 * C0 and C1 controls (U+009B is a CSI to some terminals) and the bidirectional marks and
 * overrides that make a name read other than it is.
 */
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const EACH_UNPRINTABLE = new RegExp(UNPRINTABLE.source, "g");

function escaped(c: string): string {
  const short = JSON.stringify(c).slice(1, -1);
  return short.length > 1 ? short : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** One printable line: a tab becomes a space, every other unprintable character its escape. */
export function printable(text: string): string {
  return text.replace(EACH_UNPRINTABLE, (c) => (c === "\t" ? " " : escaped(c)));
}

/** JSON whose strings carry no raw C1 control or direction mark (JSON.stringify leaves those raw). */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(EACH_UNPRINTABLE, escaped);
}
