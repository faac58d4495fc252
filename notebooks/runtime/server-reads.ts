/**
 * Which of a page's server queries a new output touches. Each answer names the outputs the query
 * read (the server's `x-tracebook-reads`), so a change to another output runs nothing again: a
 * page's search box, pick and choices stay as the user left them through a watch cycle that only
 * moved other tables. What a query read is kept over all its answers (a query that names a table
 * at run time may read another on its next call). A query asked and not yet answered counts as
 * reading every output: its answer may have been read before the change.
 */
export class ServerReads {
  private readonly reads = new Map<string, Set<string>>();
  private readonly asking = new Map<string, number>();

  /** The page asks query `key`; call the result with the outputs its answer read (null: it failed). */
  ask(key: string): (read: readonly string[] | null) => void {
    this.asking.set(key, (this.asking.get(key) ?? 0) + 1);
    let answered = false;
    return (read) => {
      if (answered) return;
      answered = true;
      const left = this.asking.get(key)! - 1;
      if (left) this.asking.set(key, left);
      else this.asking.delete(key);
      if (!read) return;
      const set = this.reads.get(key) ?? new Set<string>();
      for (const cell of read) set.add(cell);
      this.reads.set(key, set);
    };
  }

  /** The queries whose results a new output of `cell` may change: those that read it, and those still being asked. */
  touched(cell: string): string[] {
    const keys = new Set(this.asking.keys());
    for (const [key, read] of this.reads) if (read.has(cell)) keys.add(key);
    return [...keys];
  }
}
