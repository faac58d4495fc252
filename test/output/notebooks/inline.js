// Compiled by tracebook from test/input/notebooks/inline.md: edit the Markdown, not this module.
export default {
  title: "Inline expressions in",
  pipeline: null,
  frontMatter: {},
  columns: {},
  html: "<h1>Inline expressions in <span class=\"tb-cell tb-inline\" id=\"tb-cell-1\"></span></h1>\n<ul>\n<li>in a list item: <span class=\"tb-cell tb-inline\" id=\"tb-cell-2\"></span> items</li>\n<li>nested braces <span class=\"tb-cell tb-inline\" id=\"tb-cell-3\"></span> and strings with &quot;}&quot;: <span class=\"tb-cell tb-inline\" id=\"tb-cell-4\"></span></li>\n<li>a template <span class=\"tb-cell tb-inline\" id=\"tb-cell-5\"></span> and a regexp <span class=\"tb-cell tb-inline\" id=\"tb-cell-6\"></span></li>\n</ul>\n<table>\n<thead>\n<tr>\n<th>column</th>\n<th>value</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>total</td>\n<td><span class=\"tb-cell tb-inline\" id=\"tb-cell-7\"></span></td>\n</tr>\n</tbody>\n</table>\n<p>Not expressions: $ {spaced}, ${unclosed, <code>${in code}</code>, ${escaped}.</p>\n<p>Emphasis around an expression: <strong><span class=\"tb-cell tb-inline\" id=\"tb-cell-8\"></span></strong> and <em><span class=\"tb-cell tb-inline\" id=\"tb-cell-9\"></span></em>.</p>\n<div class=\"tb-cell\" id=\"tb-cell-10\"></div>\n",
  cells: [
    {id: 1, source: "inline", inline: true, expression: true, inputs: [], outputs: [], body: () => (
"headings"
)},
    {id: 2, source: "inline", inline: true, expression: true, inputs: ["items"], outputs: [], body: (items) => (
items.length
)},
    {id: 3, source: "inline", inline: true, expression: true, inputs: [], outputs: [], body: () => (
({a: {b: 1}}).a.b
)},
    {id: 4, source: "inline", inline: true, expression: true, inputs: [], outputs: [], body: () => (
"}"
)},
    {id: 5, source: "inline", inline: true, expression: true, inputs: [], outputs: [], body: () => (
`x${1 + 1}y`
)},
    {id: 6, source: "inline", inline: true, expression: true, inputs: [], outputs: [], body: () => (
/}/.source
)},
    {id: 7, source: "inline", inline: true, expression: true, inputs: ["total"], outputs: [], body: (total) => (
total.toFixed(2)
)},
    {id: 8, source: "inline", inline: true, expression: true, inputs: ["label"], outputs: [], body: (label) => (
label
)},
    {id: 9, source: "inline", inline: true, expression: true, inputs: ["label"], outputs: [], body: (label) => (
label
)},
    {id: 10, source: "js", inline: false, expression: false, inputs: [], outputs: ["items","total","label"], body: () => {
const items = [1, 2, 3];
const total = items.reduce((a, b) => a + b, 0);
const label = "<b>not bold</b>";
return {items, total, label};
}},
  ],
};
