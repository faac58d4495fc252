// Compiled by tracebook from test/input/notebooks/basics.md: edit the Markdown, not this module.
export default {
  title: "Basics",
  pipeline: "mail",
  frontMatter: {"title":"Basics","pipeline":"mail","tags":["a","b"],"draft":false},
  columns: {},
  html: "<h1>Basics <em>of</em> notebooks</h1>\n<p>A number: <span class=\"tb-cell tb-inline\" id=\"tb-cell-1\"></span>, and a string with braces: <span class=\"tb-cell tb-inline\" id=\"tb-cell-2\"></span>. Escaped: ${not a cell}; in code: <code>${nor this}</code>.</p>\n<div class=\"tb-cell\" id=\"tb-cell-3\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-4\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-5\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-6\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-7\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-8\"></div>\n<pre><code class=\"language-js\">import {format} from &quot;d3-format&quot;;\nimport * as arrow from &quot;apache-arrow&quot;;\nimport &quot;./side-effect.js&quot;;\nformat(&quot;.2f&quot;)(x)\n</code></pre>\n<div class=\"tb-cell\" id=\"tb-cell-9\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-10\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-11\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-12\"></div>\n<div class=\"tb-cell\" id=\"tb-cell-13\"></div>\n<pre><code class=\"language-python\">print(&quot;not a cell: ${x}&quot;)\n</code></pre>\n<div class=\"note\">Raw HTML from the author is kept.</div>\n",
  cells: [
    {id: 1, source: "inline", inline: true, expression: true, inputs: ["x"], outputs: [], body: (x) => (
x * 2
)},
    {id: 2, source: "inline", inline: true, expression: true, inputs: ["name"], outputs: [], body: (name) => (
`{${name}}`
)},
    {id: 3, source: "js", inline: false, expression: false, inputs: [], outputs: ["x","name"], body: () => {
const x = 21;
const name = "world";
return {x, name};
}},
    {id: 4, source: "js", inline: false, expression: true, inputs: ["x","y"], outputs: [], body: (x, y) => (
x + y
)},
    {id: 5, source: "js", inline: false, expression: false, inputs: [], outputs: ["y","double","Box","a","c","rest"], body: async () => {
const y = await Promise.resolve(1);
function double(v) { return v * 2; }
class Box { constructor(v) { this.v = v; } }
let {a, b: [c, ...rest]} = {a: 1, b: [2, 3, 4]};
return {y, double, Box, a, c, rest};
}},
    {id: 6, source: "js", inline: false, expression: false, inputs: ["Inputs","view"], outputs: ["picked"], body: (Inputs, view) => {
const picked = view(Inputs.range([0, 10], {value: 5}));
return {picked};
}},
    {id: 7, source: "js", inline: false, expression: false, inputs: ["arguments_not_local","display","double","invalidation","picked","x"], outputs: ["f","g"], body: (arguments_not_local, display, double, invalidation, picked, x) => {
for (const i of [1, 2]) { const local = i; display(local + picked + double(i)); }
try { JSON.parse("{"); } catch (e) { display(e.message); }
const f = function fac(n) { return n ? n * fac(n - 1) : 1; };
const g = (u, {v = x} = {}) => u + v + arguments_not_local;
invalidation.then(() => console.log("bye"));
return {f, g};
}},
    {id: 8, source: "js", inline: false, expression: true, inputs: [], outputs: [], body: () => (
({answer: 42})
)},
    {id: 9, source: "js", inline: false, expression: false, inputs: ["x"], outputs: ["format","arrow"], body: async (x) => {
const {format} = await import("d3-format");
const arrow = await import("apache-arrow");
await import("./side-effect.js");
format(".2f")(x)
return {format, arrow};
}},
    {id: 10, source: "sql", inline: false, expression: false, inputs: ["picked","sql"], outputs: ["top"], body: async (picked, sql) => {
const top = await sql`select contributor, count(*) as n
from influence_topk
where query = ${picked} and text <> '\`quoted\\\`' -- a comment
group by contributor`;
return {top};
}},
    {id: 11, source: "sql", inline: false, expression: true, inputs: ["min","sql"], outputs: [], body: (min, sql) => (
sql`select * from top where n > ${min}`
)},
    {id: 12, source: "js", inline: false, expression: false, inputs: [], outputs: [], error: "Assignment to external variable \"x\" (it is defined by another cell)", body: () => {
throw new SyntaxError("Assignment to external variable \"x\" (it is defined by another cell)");
}},
    {id: 13, source: "js", inline: false, expression: false, inputs: [], outputs: [], error: "Unexpected token (1:15)", body: () => {
throw new SyntaxError("Unexpected token (1:15)");
}},
  ],
};
