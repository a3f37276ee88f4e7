// A strict decoder for Snappy's raw block format, the compression of the Sigstore bundles that
// GitHub's attestations API serves through a `bundle_url`. Strict because the bytes come from a
// server: the output is allocated from the length header only when that length is within
// `maxOutput`, every literal and copy is checked against both buffers, and the stream must fill
// the declared length exactly, with no bytes over.

export class SnappyError extends Error {}

/** The uncompressed length: a little-endian base-128 varint of at most 32 bits. */
function readPreamble(input: Uint8Array): { length: number; next: number } {
  let length = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= input.length) throw new SnappyError("it ends inside its length header");
    const byte = input[i];
    length += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) {
      if (length > 0xffffffff) throw new SnappyError("its length header is over 32 bits");
      return { length, next: i + 1 };
    }
  }
  throw new SnappyError("its length header is over 5 bytes");
}

/** Reads `count` bytes little-endian at `at`, or says that the input ends first. */
function littleEndian(input: Uint8Array, at: number, count: number): number {
  if (at + count > input.length) throw new SnappyError("it ends inside an element");
  let value = 0;
  for (let i = count - 1; i >= 0; i--) value = value * 256 + input[at + i];
  return value;
}

export function decodeSnappy(input: Uint8Array, maxOutput: number): Buffer {
  const { length, next } = readPreamble(input);
  if (length > maxOutput) {
    throw new SnappyError(`it says it expands to ${length} bytes, more than the ${maxOutput} allowed`);
  }
  const output = Buffer.alloc(length);
  let written = 0;
  let at = next;
  while (at < input.length) {
    const tag = input[at++];
    const type = tag & 3;
    if (type === 0) {
      let size = tag >> 2;
      if (size >= 60) {
        const extra = size - 59;
        size = littleEndian(input, at, extra);
        at += extra;
      }
      size += 1;
      if (at + size > input.length) throw new SnappyError("a literal runs past the end of the input");
      if (written + size > length) throw new SnappyError("a literal runs past the declared length");
      output.set(input.subarray(at, at + size), written);
      at += size;
      written += size;
      continue;
    }
    let size: number;
    let offset: number;
    if (type === 1) {
      size = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | littleEndian(input, at, 1);
      at += 1;
    } else {
      const bytes = type === 2 ? 2 : 4;
      size = (tag >> 2) + 1;
      offset = littleEndian(input, at, bytes);
      at += bytes;
    }
    if (offset === 0 || offset > written) throw new SnappyError("a copy reaches before the start");
    if (written + size > length) throw new SnappyError("a copy runs past the declared length");
    // Byte by byte: a copy may overlap what it writes (a run).
    for (let i = 0; i < size; i++, written++) output[written] = output[written - offset];
  }
  if (written !== length) {
    throw new SnappyError(`it holds ${written} bytes where its header says ${length}`);
  }
  return output;
}
