/** "1 row", "2 rows", "0 rows": a count with its noun, for the lines people read. */
export function plural(count: number | bigint, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 || count === 1n ? one : many}`;
}
