// The mail pipeline: the approved SpamAssassin contributions, split for training and queries.
// Later capabilities add the fine-tune, influence, inference and reward cells.
import { datanet, pipeline, sql } from "../cells/index.ts";

export default pipeline("mail", {
  mail: datanet("mail-spam", { status: "approved" }),
  train: sql`select * from ${"mail"} where split = 'train'`,
  queries: sql`select * from ${"mail"} where split = 'test'`,
  contributors: sql`
    select contributor, label, count(*) as contributions
    from ${"train"} group by contributor, label order by contributions desc, contributor`,
  labels: sql`select label, count(*) as n from ${"train"} group by label order by label`,
});
