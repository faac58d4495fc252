import { Parser, parseExpressionAt, tokenizer, type Node, type Options } from "acorn";
import { ancestor } from "acorn-walk";

/**
 * One reactive JavaScript cell, analysed the Observable way: top-level declarations are the
 * cell's outputs; free identifiers (read, not declared anywhere in the cell) are its inputs.
 * References are found by parsing, never by regular expressions.
 */
export interface JsCell {
  /** Names the cell reads: other cells' outputs, builtins (sql, Plot, Inputs, display, view, invalidation, …). */
  inputs: string[];
  /** Top-level declarations. */
  outputs: string[];
  /** A single expression (no trailing semicolon): its value is displayed. */
  expression: boolean;
  /** Uses top-level `await`. */
  async: boolean;
  /** The body of the cell's definition function (statements, ending in `return {outputs}`), or the expression. */
  body: string;
  /** Free identifiers the cell assigns to (`x = …` where x is not declared in the cell). */
  assigns: string[];
}

export class CellSyntaxError extends Error {}

const OPTIONS: Options = { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true, preserveParens: true };

/** Globals that are never other cells' outputs: not inputs. Anything else that is free is an input (the runtime falls back to the global object). */
export const DEFAULT_GLOBALS = new Set([
  "AbortController", "AggregateError", "Array", "ArrayBuffer", "BigInt", "BigInt64Array", "BigUint64Array", "Blob", "Boolean",
  "CustomEvent", "DataView", "Date", "DOMParser", "Element", "Error", "EvalError", "Event", "EventTarget", "FinalizationRegistry",
  "Float32Array", "Float64Array", "FormData", "Function", "Headers", "HTMLElement", "Image", "ImageData", "Infinity",
  "Int16Array", "Int32Array", "Int8Array", "IntersectionObserver", "Intl", "JSON", "Map", "Math", "MutationObserver", "NaN",
  "Node", "Number", "Object", "Promise", "Proxy", "RangeError", "ReferenceError", "Reflect", "RegExp", "Request",
  "ResizeObserver", "Response", "Set", "String", "Symbol", "SyntaxError", "TextDecoder", "TextEncoder", "TypeError",
  "URIError", "URL", "URLSearchParams", "Uint16Array", "Uint32Array", "Uint8Array", "Uint8ClampedArray", "WeakMap",
  "WeakRef", "WeakSet", "alert", "arguments", "atob", "btoa", "cancelAnimationFrame", "clearInterval", "clearTimeout",
  "console", "crypto", "decodeURI", "decodeURIComponent", "document", "encodeURI", "encodeURIComponent", "escape", "eval",
  "fetch", "getComputedStyle", "globalThis", "isFinite", "isNaN", "localStorage", "location", "navigator", "parseFloat",
  "parseInt", "performance", "queueMicrotask", "requestAnimationFrame", "sessionStorage", "setInterval", "setTimeout",
  "structuredClone", "undefined", "unescape", "window",
]);

type AnyNode = Node & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Analyse a ```js block (or an inline `${…}` expression when `inline`). Throws CellSyntaxError on bad syntax. */
export function analyzeJs(source: string, options: { inline?: boolean } = {}): JsCell {
  let expression = parseAsExpression(source);
  // A named function or class is a declaration (as in Observable Framework), not a value to show.
  if ((expression?.type === "FunctionExpression" || expression?.type === "ClassExpression") && expression.id) expression = null;
  if (expression) return finish(source, expression, true);
  if (options.inline) throw new CellSyntaxError(`\${…} must hold one expression: ${source.trim().slice(0, 60)}`);
  let program: AnyNode;
  try {
    program = Parser.parse(source, OPTIONS) as AnyNode;
  } catch (err) {
    throw new CellSyntaxError((err as Error).message);
  }
  return finish(source, program, false);
}

/** The whole source as one expression, or null (`{a: 1}` is an object here, as Observable reads it). */
function parseAsExpression(source: string): AnyNode | null {
  if (!source.trim()) return null;
  let node: AnyNode;
  try {
    node = parseExpressionAt(source, 0, OPTIONS) as AnyNode;
  } catch {
    return null;
  }
  // Only comments and whitespace may follow (a trailing `;` makes it a statement).
  try {
    const rest = tokenizer(source.slice(node.end), OPTIONS);
    if (rest.getToken().type.label !== "eof") return null;
  } catch {
    return null;
  }
  return node;
}

function finish(source: string, root: AnyNode, expression: boolean): JsCell {
  const inputs = new Set<string>();
  const assigns = new Set<string>();
  let async = false;
  const declared = new Map<AnyNode, Set<string>>();
  const scopeNames = (scope: AnyNode) => {
    let names = declared.get(scope);
    if (!names) declared.set(scope, (names = declarationsOf(scope)));
    return names;
  };
  const isLocal = (name: string, ancestors: AnyNode[]) => {
    for (let i = ancestors.length - 2; i >= 0; i--) {
      const a = ancestors[i]!;
      if (isScope(a) && scopeNames(a).has(name)) return true;
    }
    return false;
  };
  const inFunction = (ancestors: AnyNode[]) => ancestors.slice(0, -1).some(isFunction);

  const visitors: Record<string, (node: Node, state: unknown, ancestors: Node[]) => void> = {
    Identifier(node, _state, ancestors) {
      const n = node as AnyNode;
      if (!isLocal(n.name, ancestors as AnyNode[]) && !DEFAULT_GLOBALS.has(n.name)) inputs.add(n.name);
    },
    // acorn-walk calls this for identifiers in binding and assignment position (not in its types).
    VariablePattern(node, _state, ancestors) {
      const n = node as AnyNode;
      const chain = ancestors as AnyNode[];
      const parent = chain[chain.length - 2];
      // Declarations are bindings; a bare assignment to a free name is an assignment to another cell's output.
      if (parent && (parent.type === "AssignmentExpression" || parent.type === "ForInStatement" || parent.type === "ForOfStatement") && !isLocal(n.name, chain)) {
        assigns.add(n.name);
      }
    },
    AwaitExpression(_node, _state, ancestors) {
      if (!inFunction(ancestors as AnyNode[])) async = true;
    },
    ForOfStatement(node, _state, ancestors) {
      if ((node as AnyNode).await && !inFunction(ancestors as AnyNode[])) async = true;
    },
  };
  ancestor(root, visitors as Parameters<typeof ancestor>[1]);

  const outputs = expression ? [] : [...declarationsOf(root)];
  let body: string;
  if (expression) {
    body = source.slice(root.start, root.end);
  } else {
    body = rewriteImports(source, root);
    for (const s of root.body as AnyNode[]) if (s.type === "ImportDeclaration") async = true;
    body = `${body.replace(/\s+$/, "")}\nreturn {${outputs.join(", ")}};`;
  }
  return { inputs: [...inputs].sort(), outputs, expression, async, body, assigns: [...assigns].sort() };
}

/** Static imports become awaited dynamic imports (Vite resolves the specifiers), declared at the cell's top level. */
function rewriteImports(source: string, program: AnyNode): string {
  const edits: { start: number; end: number; text: string }[] = [];
  for (const s of program.body as AnyNode[]) {
    if (s.type !== "ImportDeclaration") continue;
    const spec = JSON.stringify(s.source.value);
    const parts: string[] = [];
    const named: string[] = [];
    for (const sp of s.specifiers as AnyNode[]) {
      if (sp.type === "ImportNamespaceSpecifier") parts.push(`const ${sp.local.name} = await import(${spec});`);
      else if (sp.type === "ImportDefaultSpecifier") named.push(`default: ${sp.local.name}`);
      else {
        const imported = sp.imported.type === "Identifier" ? sp.imported.name : JSON.stringify(sp.imported.value);
        named.push(imported === sp.local.name ? imported : `${imported}: ${sp.local.name}`);
      }
    }
    if (named.length) parts.push(`const {${named.join(", ")}} = await import(${spec});`);
    if (!s.specifiers.length) parts.push(`await import(${spec});`);
    edits.push({ start: s.start, end: s.end, text: parts.join(" ") });
  }
  let out = source;
  for (const e of edits.reverse()) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function isFunction(n: AnyNode): boolean {
  return n.type === "FunctionDeclaration" || n.type === "FunctionExpression" || n.type === "ArrowFunctionExpression";
}

/** Whether `node` opens a scope. */
function isScope(node: AnyNode): boolean {
  switch (node.type) {
    case "Program": case "BlockStatement": case "StaticBlock": case "SwitchStatement": case "CatchClause":
    case "ForStatement": case "ForInStatement": case "ForOfStatement":
      return true;
    case "FunctionDeclaration": case "FunctionExpression": case "ArrowFunctionExpression": case "ClassExpression":
      return true;
    default:
      return false;
  }
}

/** Names a scope node declares. */
function declarationsOf(node: AnyNode): Set<string> {
  const names = new Set<string>();
  switch (node.type) {
    case "Program":
      for (const s of node.body as AnyNode[]) {
        if (s.type === "ImportDeclaration") for (const sp of s.specifiers as AnyNode[]) names.add(sp.local.name);
        else lexical(s, names);
      }
      hoistedVars(node, names);
      break;
    case "BlockStatement": case "StaticBlock":
      for (const s of node.body as AnyNode[]) lexical(s, names);
      break;
    case "SwitchStatement":
      for (const c of node.cases as AnyNode[]) for (const s of c.consequent as AnyNode[]) lexical(s, names);
      break;
    case "CatchClause":
      if (node.param) patternNames(node.param, names);
      break;
    case "ForStatement":
      if (node.init?.type === "VariableDeclaration") lexical(node.init, names);
      break;
    case "ForInStatement": case "ForOfStatement":
      if (node.left.type === "VariableDeclaration") lexical(node.left, names);
      break;
    case "FunctionDeclaration": case "FunctionExpression": case "ArrowFunctionExpression":
      for (const p of node.params as AnyNode[]) patternNames(p, names);
      if (node.type === "FunctionExpression" && node.id) names.add(node.id.name);
      if (node.type !== "ArrowFunctionExpression") names.add("arguments");
      if (node.body.type === "BlockStatement") hoistedVars(node.body, names);
      break;
    case "ClassExpression":
      if (node.id) names.add(node.id.name);
      break;
  }
  return names;
}

function lexical(s: AnyNode, names: Set<string>): void {
  if (s.type === "VariableDeclaration") for (const d of s.declarations as AnyNode[]) patternNames(d.id, names);
  else if ((s.type === "FunctionDeclaration" || s.type === "ClassDeclaration") && s.id) names.add(s.id.name);
}

/** `var` declarations anywhere below `node`, not crossing into nested functions. */
function hoistedVars(node: AnyNode, names: Set<string>): void {
  const visit = (n: AnyNode) => {
    if (n !== node && isFunction(n)) return;
    if (n.type === "VariableDeclaration" && n.kind === "var") for (const d of n.declarations as AnyNode[]) patternNames(d.id, names);
    for (const key of Object.keys(n)) {
      const v = n[key];
      if (Array.isArray(v)) for (const c of v) { if (c && typeof c.type === "string") visit(c); }
      else if (v && typeof v === "object" && typeof v.type === "string") visit(v);
    }
  };
  visit(node);
}

function patternNames(p: AnyNode, names: Set<string>): void {
  switch (p.type) {
    case "Identifier": names.add(p.name); break;
    case "ObjectPattern": for (const prop of p.properties as AnyNode[]) patternNames(prop.type === "RestElement" ? prop : prop.value, names); break;
    case "ArrayPattern": for (const e of p.elements as (AnyNode | null)[]) if (e) patternNames(e, names); break;
    case "RestElement": patternNames(p.argument, names); break;
    case "AssignmentPattern": patternNames(p.left, names); break;
  }
}

/**
 * Where a `${…}` that starts at `open` (the index just after `${`) ends: the index of its `}`.
 * Uses the JavaScript parser, so braces, strings and templates inside the expression are fine.
 */
export function findExpressionEnd(text: string, open: number): number {
  let node: AnyNode;
  try {
    node = parseExpressionAt(text, open, OPTIONS) as AnyNode;
  } catch (err) {
    throw new CellSyntaxError(`bad \${…} expression: ${(err as Error).message.replace(/ \(\d+:\d+\)$/, "")}`);
  }
  const t = tokenizer(text.slice(node.end), OPTIONS);
  const next = t.getToken();
  if (next.type.label !== "}") throw new CellSyntaxError(`\${…} expression not closed by "}": ${text.slice(open, node.end + 20)}`);
  return node.end + next.start;
}
