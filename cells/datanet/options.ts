import { z } from "zod";
import { options } from "../graph/options.ts";
import { STATUSES } from "./types.ts";
import type { DatanetFilter } from "./cell.ts";
import type { ValidationsOptions } from "./validations.ts";

// The options of the Datanet cells, as schemas a pipeline file is checked against (graph/options.ts).

export const statuses = z.union([z.enum(STATUSES), z.array(z.enum(STATUSES))], { error: `must be a status or a list of them (${STATUSES.join(", ")})` });
export const datanetName = z.string({ error: "must name a Datanet" }).min(1, { error: "must name a Datanet" });

export const datanetFilterOptions: z.ZodType<DatanetFilter> = options({ status: statuses.optional() });
export const validationsOptions: z.ZodType<ValidationsOptions> = options({ imports: z.boolean().optional() });
