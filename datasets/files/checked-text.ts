import fs from "node:fs";
import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InputError, type InputLocation } from "../../cells/datanet/errors.ts";
import { EMPTY_FILE, MAX_LINE_BYTES, firstInvalidUtf8 } from "./types.ts";

const LF = 0x0a;
const CR = 0x0d;

/** Where a streamed file first went wrong: the byte offset, and what the reader should say. */
export class TextFault extends Error {
  constructor(readonly offset: number, readonly kind: "utf8" | "long-line") {
    super(kind === "utf8" ? "invalid UTF-8" : "long line");
  }
}

/**
 * A file's bytes as text, checked on the way through, so a reader can stream a file of any size
 * (a whole-file string stops at V8's 512 MiB and holds the file several times over in memory):
 * strict UTF-8 (mojibake never reaches a Datanet), no physical line over MAX_LINE_BYTES, and a
 * file of nothing but whitespace is the empty file. A fault carries its byte offset; `locate`
 * turns it into the row and field a curator can look up.
 */
export class CheckedText extends Transform {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private offset = 0;
  private lineStart = 0;
  private lastByte = -1;
  private content = false;
  private held: string[] = [];
  private readonly hash = createHash("sha256");
  private digest: string | null = null;

  constructor(private readonly file: string) {
    super({ readableObjectMode: false, decodeStrings: true, encoding: "utf8" });
  }

  /** Bytes of the file passed through so far (a little ahead of the rows read: the parser buffers). */
  get bytesRead(): number {
    return this.offset;
  }

  /**
   * The sha256 of every byte that passed, once the file has passed whole (null before): the
   * digest of exactly the bytes read, in the same pass, instead of a second read of the file that
   * another process could have changed meanwhile.
   */
  get sha256(): string | null {
    return this.digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.checkLines(chunk);
      let text: string;
      try {
        text = this.decoder.decode(chunk, { stream: true });
      } catch {
        throw new TextFault(this.offset + chunk.length, "utf8");
      }
      this.hash.update(chunk);
      this.offset += chunk.length;
      this.forward(text);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      let text: string;
      try {
        text = this.decoder.decode();
      } catch {
        throw new TextFault(this.offset, "utf8");
      }
      const last = this.offset - this.lineStart - (this.lastByte === CR ? 1 : 0);
      if (last > MAX_LINE_BYTES) throw new TextFault(this.lineStart, "long-line");
      this.forward(text);
      if (!this.content) throw new InputError(EMPTY_FILE, { file: this.file });
      this.digest = this.hash.digest("hex");
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** The physical lines this chunk ends, and the one it leaves open, against the cap. */
  private checkLines(chunk: Buffer): void {
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const before = i > 0 ? chunk[i - 1]! : this.lastByte;
      const length = this.offset + i - this.lineStart - (before === CR ? 1 : 0);
      if (length > MAX_LINE_BYTES) throw new TextFault(this.lineStart, "long-line");
      this.lineStart = this.offset + i + 1;
    }
    if (chunk.length) this.lastByte = chunk[chunk.length - 1]!;
    // An open line may still end in CR LF: one byte of grace.
    if (this.offset + chunk.length - this.lineStart > MAX_LINE_BYTES + 1) throw new TextFault(this.lineStart, "long-line");
  }

  /** Text passes on once the file has shown a non-space character; leading whitespace waits for it. */
  private forward(text: string): void {
    if (!text) return;
    if (!this.content) {
      this.held.push(text);
      if (!/\S/.test(text)) return;
      this.content = true;
      text = this.held.join("");
      this.held = [];
    }
    this.push(text);
  }
}

/** A file streamed as checked text: `text` to read or pipe on; `close` lets go of the file. */
export function openChecked(file: string): { text: CheckedText; close: () => void } {
  const source = fs.createReadStream(file);
  const text = new CheckedText(file);
  pipeline(source, text).catch(() => undefined); // the error reaches whoever reads `text`
  return { text, close: () => (source.destroy(), text.destroy()) };
}

/**
 * A fault as the curator's error: for invalid UTF-8 the first bad byte (read again from the
 * file's start up to the fault, as the streamed decoder does not say where in a chunk it failed),
 * for a long line the line's start; `locate` names the row (and field) of a byte offset.
 */
export function describeFault(file: string, fault: TextFault, locate: (bytes: Uint8Array, offset: number) => InputLocation): InputError {
  const prefix = readPrefix(file, fault.offset);
  if (fault.kind === "utf8") {
    const at = firstInvalidUtf8(prefix);
    const offset = at === -1 ? prefix.length : at;
    const hex = (prefix[offset] ?? 0).toString(16).padStart(2, "0");
    return new InputError(`invalid UTF-8 (byte 0x${hex} at offset ${offset})`, { file, ...locate(prefix, offset) });
  }
  const where = locate(prefix, fault.offset);
  return new InputError(`${where.row === undefined ? "header line" : "row"} exceeds ${MAX_LINE_BYTES} bytes`, { file, row: where.row });
}

/** The first `length` bytes of a file (a little more: a fault at the very end names its byte). */
function readPrefix(file: string, length: number): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(Math.min(length + 4, fs.fstatSync(fd).size));
    let read = 0;
    while (read < buffer.length) {
      const n = fs.readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}
