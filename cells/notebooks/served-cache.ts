import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../store/atomic.ts";

/**
 * Bumped whenever served-arrow.ts changes the stream it makes of an artifact (types, encodings):
 * streams written before are then never read.
 */
const FORMAT = 1;

/** How an Arrow IPC stream ends: the continuation marker and a zero-length message. */
const END_OF_STREAM = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Where the notebook server keeps the Arrow streams it made: a cache (`tracebook gc` empties it; anything in it is rebuilt on use). */
export function servedCacheDir(home: string): string {
  return path.join(home, "cache", "served");
}

/**
 * The Arrow IPC streams the notebook server made of cell outputs, kept on disk by pipeline, cell,
 * data version and projection. An output's stream is as content-addressed as its artifact, so a
 * kept one never goes stale; a new server (each `tracebook dev`) sends it at once, where making
 * it again took 5.2 s for an influence table of 1.46 million rows. A cell keeps one stream per
 * projection: writing a new output's removes the superseded one's.
 */
export class ServedCache {
  /** `write`: false for a workspace opened read-only (streams kept there are still read). */
  constructor(readonly home: string, readonly write: boolean) {}

  /**
   * The stream kept for this output, or null: none kept, or a file that does not end as an Arrow
   * stream ends (damaged on disk: the caller makes it again and keeps the new one).
   */
  async read(pipeline: string, cell: string, dataVersion: string, columns?: readonly string[]): Promise<Uint8Array | null> {
    const file = this.file(pipeline, cell, dataVersion, columns);
    if (!file) return null;
    let b: Buffer;
    try {
      b = await fs.promises.readFile(file); // 107 MB for a tracin table at 21k: not on the server's event loop
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    if (!END_OF_STREAM.equals(b.subarray(b.length - END_OF_STREAM.length))) return null;
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // what a made stream is: not a Buffer
  }

  /**
   * Keep a stream (atomically: a reader meets a whole file or none), then remove the cell's
   * superseded streams under the same projection. A cache that cannot be written is no cache: the
   * page has its bytes either way.
   */
  async store(pipeline: string, cell: string, dataVersion: string, columns: readonly string[] | undefined, bytes: Uint8Array): Promise<boolean> {
    const file = this.file(pipeline, cell, dataVersion, columns);
    if (!this.write || !file) return false;
    try {
      await writeFileAtomic(file, bytes);
      const suffix = path.basename(file).slice(dataVersion.length);
      for (const name of fs.readdirSync(path.dirname(file))) {
        if (name !== path.basename(file) && !name.startsWith(".") && name.endsWith(suffix) && /^[0-9a-f]{64}$/.test(name.slice(0, -suffix.length))) {
          fs.rmSync(path.join(path.dirname(file), name), { force: true });
        }
      }
      return true;
    } catch {
      return false;
    }
  }

  /** The file, or null for what is not a sha256 data version (nothing kept for it). */
  private file(pipeline: string, cell: string, dataVersion: string, columns?: readonly string[]): string | null {
    if (!/^[0-9a-f]{64}$/.test(dataVersion)) return null;
    return path.join(servedCacheDir(this.home), `v${FORMAT}`, encodeURIComponent(pipeline), encodeURIComponent(cell), `${dataVersion}${projectionSuffix(columns)}.arrow`);
  }
}

/** `.<hash of the column set>` for a projection (the same set in any order), "" for the whole table. */
export function projectionSuffix(columns?: readonly string[]): string {
  if (!columns) return "";
  return `.${createHash("sha256").update([...new Set(columns)].sort().join("\0")).digest("hex").slice(0, 16)}`;
}
