// The CLI's tables: any number of rows drawn as one box, its columns as wide as their widest cell.
import Table from "cli-table3";
import { describe, expect, it } from "vitest";
import { formatTable } from "../bin/output.ts";

/** The same rows drawn by cli-table3 in one piece (what formatTable does below its chunk size). */
function whole(columns: string[], rows: Record<string, unknown>[]): string {
  const t = new Table({ head: columns, style: { head: [], border: [], compact: true }, wordWrap: false });
  for (const r of rows) t.push(columns.map((c) => String(r[c])));
  return t.toString();
}

describe("formatTable", () => {
  it("draws a long table in parts exactly as cli-table3 draws it whole, the widest cell in its last part", () => {
    // 4,500 rows: three parts; the widest value of each column sits in a different part.
    const rows = Array.from({ length: 4_500 }, (_, i) => ({ n: i === 4_499 ? "a-long-last-value" : String(i), s: "x".repeat(i === 2_100 ? 30 : i % 5) }));
    const drawn = formatTable(rows, { maxRows: rows.length });
    expect(drawn).toBe(`${whole(["n", "s"], rows)}\n(4500 rows)`);
    const lines = drawn.split("\n").slice(0, -1);
    expect(new Set(lines.map((l) => [...l].length)).size).toBe(1);
    expect(lines.filter((l) => l.startsWith("┌") || l.startsWith("└"))).toHaveLength(2);
  });

  it("draws past the size at which cli-table3 alone overflows the stack", () => {
    const rows = Array.from({ length: 130_000 }, (_, i) => ({ i }));
    expect(() => whole(["i"], rows)).toThrow(RangeError);
    const drawn = formatTable(rows, { maxRows: rows.length }).split("\n");
    expect(drawn).toHaveLength(130_000 + 5); // top, head, rule, rows, bottom, count
    expect(drawn.at(-2)).toBe("└────────┘");
  }, 120_000);
});
