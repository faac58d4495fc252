// The digits pipeline: the approved MNIST contributions, split for training and queries.
import { datanet, pipeline, sql } from "../cells/index.ts";

export default pipeline("digits", {
  digits: datanet("digits", { status: "approved" }),
  train: sql`select * from ${"digits"} where split = 'train'`,
  queries: sql`select * from ${"digits"} where split = 'test'`,
  scribes: sql`
    select contributor, label, count(*) as images
    from ${"train"} group by contributor, label order by contributor, label`,
});
