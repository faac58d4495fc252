// Compiled by tracebook from test/input/notebooks/cells.md: edit the Markdown, not this module.
export default {
  title: "Cells: edge cases",
  pipeline: "pay",
  frontMatter: {"title":"Cells: edge cases","pipeline":"pay","tables":["usage","influence"]},
  columns: {},
  html: "<div class=\"tb-cell\" id=\"tb-cell-1\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-2\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-3\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-4\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-5\"></div>\n<pre><code class=\"language-sql\">select contributor, sum(score) as score from influence where level = 'contributor' group by all order by score desc limit ${n}\n</code></pre>\n<div class=\"tb-cell\" id=\"tb-cell-6\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-7\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-8\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-9\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-10\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-11\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-12\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-13\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-14\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-15\"></div>\n",
  cells: [
    {id: 1, source: "js", inline: false, expression: false, inputs: [], outputs: ["tick"], body: () => {
// generators, invalidation and view
const tick = (function* () { let i = 0; while (true) yield i++; })();
return {tick};
}},
    {id: 2, source: "js", inline: false, expression: false, inputs: ["Inputs","view"], outputs: ["n"], body: (Inputs, view) => {
const n = view(Inputs.range([1, 10], {step: 1, value: 3}));
return {n};
}},
    {id: 3, source: "js", inline: false, expression: false, inputs: ["invalidation"], outputs: [], body: (invalidation) => {
{
  const timer = setInterval(() => {}, 1000);
  invalidation.then(() => clearInterval(timer));
}
return {};
}},
    {id: 4, source: "js", inline: false, expression: false, inputs: ["display","n"], outputs: ["countdown"], body: async (display, n) => {
async function* countdown() { for (let i = n; i >= 0; i--) yield i; }
for await (const v of countdown()) display(v);
return {countdown};
}},
    {id: 5, source: "js", inline: false, expression: false, inputs: [], outputs: ["Arrow","tableFromArrays"], body: async () => {
const {default: Arrow, tableFromArrays} = await import("apache-arrow");
return {Arrow, tableFromArrays};
}},
    {id: 6, source: "sql", inline: false, expression: false, inputs: ["display","n","sql"], outputs: ["top"], body: async (display, n, sql) => {
const top = await sql`select contributor, sum(score) as score from influence where level = 'contributor' group by all order by score desc limit ${n}`;
display(top);
return {top};
}},
    {id: 7, source: "sql", inline: false, expression: false, inputs: [], outputs: [], error: "sql id=1bad: not a JavaScript identifier, nor a function's name and parameters (name(a, b))", body: () => {
throw new SyntaxError("sql id=1bad: not a JavaScript identifier, nor a function's name and parameters (name(a, b))");
}},
    {id: 8, source: "sql", inline: false, expression: true, inputs: ["sql"], outputs: [], body: (sql) => (
sql`select ${"a" + "}"} as braces, '$' || '{' as dollar`
)},
    {id: 9, source: "js", inline: false, expression: false, inputs: ["display","n"], outputs: ["obj","Counter","arrow","hoisted","later"], body: (display, n) => {
label: for (const x of [1]) { if (x) break label; }
switch (n) { case 1: { let inner = 2; display(inner); } }
const obj = {n, [n]: n, method() { return this.n; }, get g() { return n; }};
class Counter { #count = 0; static total = n; inc() { return ++this.#count; } }
const arrow = (n) => n + 1;
var hoisted = typeof later;
if (true) { var later = 1; }
return {obj, Counter, arrow, hoisted, later};
}},
    {id: 10, source: "js", inline: false, expression: true, inputs: ["tick"], outputs: [], body: (tick) => (
tick % 2 ? "odd" : "even"
)},
    {id: 11, source: "js", inline: false, expression: false, inputs: ["display","n","sql"], outputs: [], body: async (display, n, sql) => {
display(await sql`select ${n} as n`);
return {};
}},
    {id: 12, source: "sql", inline: false, expression: false, inputs: ["serverSql"], outputs: ["sums"], serverQuery: "0f38299d3cdc7de2", body: async (serverSql) => {
const sums = await serverSql("0f38299d3cdc7de2");
return {sums};
}},
    {id: 13, source: "sql", inline: false, expression: true, inputs: ["serverSql"], outputs: [], serverQuery: "a05227e8e2dc20fa", body: (serverSql) => (
serverSql("a05227e8e2dc20fa")
)},
    {id: 14, source: "sql", inline: false, expression: false, inputs: ["cellTable","label","serverSql","table","who"], outputs: ["picked"], serverQuery: "59aef176f0a663ff", body: async (cellTable, label, serverSql, table, who) => {
const picked = await serverSql("59aef176f0a663ff", [(cellTable(table)), (label), (who)], ["-- Its values travel to the server: the picked label bound, the chosen table named.\nselect * from "," where label = "," and contributor in (select unnest(","))"]);
return {picked};
}},
    {id: 15, source: "sql", inline: false, expression: false, inputs: ["serverSql"], outputs: ["noteOf"], serverQuery: "0cbd53d77ca9fb5b", body: (serverSql) => {
const noteOf = (id) => serverSql("0cbd53d77ca9fb5b", [(id)], ["select text from notes where id = ",""]);
return {noteOf};
}},
  ],
};
