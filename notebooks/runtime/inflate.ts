/**
 * A static build's file as the page reads it: the build gzips what it ships (tables, explainers);
 * bytes that start with gzip's magic are inflated, others (the dev server's, or a host that sent
 * the file with Content-Encoding: gzip and so inflated it already) are used as they are. Neither
 * Arrow IPC nor a portable explainer starts with 1f 8b.
 */
export async function inflated(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
