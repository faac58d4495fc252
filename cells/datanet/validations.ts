import type { Cell } from "../graph/cell.ts";
import { curatorsRecord, PREVIOUS_STATUS } from "./types.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { z } from "zod";
import { checkOptions } from "../graph/options.ts";
import { datanetName, validationsOptions } from "./options.ts";

export interface ValidationsOptions {
  /** Also the records an import wrote (a corpus's own approvals); default: curators' records only. */
  imports?: boolean;
}

/**
 * 1: seq, datanet, contribution, contributor, validator, verdict, rule, reason, decided_at.
 * 2: + previous, the status the record changed (or kept): an approval of a pending row is an
 *    admission, which the review queue tells apart from a review (`admission` in types.ts).
 */
const VERSION = "2";

/**
 * `validations("mail-spam")`: a Datanet's validation trail as a cell (several Datanets' with a
 * list), so notebooks and SQL cells can read who judged which contribution, and why. The trail is append-only, so the count and
 * the last seq name its state: every decision — including a `keep`, which changes no status and
 * so no snapshot — makes the cell stale.
 */
export function validations(datanet: string | string[], options: ValidationsOptions = {}): Cell {
  checkOptions("validations", z.union([datanetName, z.array(datanetName)]), datanet);
  checkOptions("validations", validationsOptions, options);
  const names = [...new Set([datanet].flat())].sort();
  if (!names.length) throw new Error("validations(): name at least one Datanet");
  const imports = options.imports ?? false;
  const inDatanets = `v.datanet in (${names.map(() => "?").join(", ")})`;
  const whose = imports ? "true" : curatorsRecord("v");
  const where = `${inDatanets} and ${whose}`;
  return {
    kind: "validations",
    computes: false,
    version: VERSION,
    params: { datanet: names, imports },
    inputs: [],
    async source(ws) {
      const known = new Set((await ws.rows<{ name: string }>("select name from datanets")).map((r) => r.name));
      const missing = names.find((n) => !known.has(n));
      if (missing) throw new Error(`unknown Datanet "${missing}"; import it first (tracebook datanet import ${missing})`);
      const [t] = await ws.rows<{ n: bigint; last: bigint | null }>(`select count(*) as n, max(seq) as last from validations v where ${where}`, names);
      return { version: sha256(`validations/${VERSION}\n${t!.n}\n${t!.last ?? ""}`), describe: `the validation trail of ${names.join(", ")}` };
    },
    async run() {
      return {
        // `previous` over the whole trail (import records too): the status before each record.
        query: `select v.seq, v.datanet, v.contribution, c.contributor, v.validator, v.previous, v.verdict, v.rule, v.reason, v.decided_at
                from (select v.*, ${PREVIOUS_STATUS} as previous from validations v where ${inDatanets}) v
                left join contributions c on c.datanet = v.datanet and c.id = v.contribution
                where ${whose} order by v.seq`,
        params: names,
      };
    },
  };
}
