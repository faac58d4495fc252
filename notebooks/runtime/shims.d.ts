// Packages without type declarations, typed as far as the runtime uses them.
declare module "@observablehq/runtime" {
  export interface Observer {
    pending?(): void;
    fulfilled?(value: unknown, name?: string | null): void;
    rejected?(error: unknown, name?: string | null): void;
  }
  export interface Variable {
    define(name: string | null, inputs: string[], definition: (...args: any[]) => unknown): Variable;
    define(inputs: string[], definition: (...args: any[]) => unknown): Variable;
    delete(): Variable;
  }
  export interface Module {
    variable(observer?: Observer | true, options?: { shadow?: Record<string, unknown> }): Variable;
    define(name: string, inputs: string[], definition: (...args: any[]) => unknown): Variable;
    redefine(name: string, inputs: string[], definition: (...args: any[]) => unknown): Variable;
    value(name: string): Promise<unknown>;
  }
  export class Runtime {
    constructor(builtins?: Record<string, unknown>, global?: (name: string) => unknown);
    module(): Module;
    dispose(): void;
  }
  export class RuntimeError extends Error {}
}

declare module "@observablehq/inputs" {
  type Options = Record<string, unknown>;
  export function table(data: unknown, options?: Options): HTMLElement & { value: unknown };
  export function select(data: unknown, options?: Options): HTMLElement & { value: unknown };
  export function search(data: unknown, options?: Options): HTMLElement & { value: unknown };
  export function range(extent?: [number, number], options?: Options): HTMLElement & { value: number };
  export function text(options?: Options): HTMLElement & { value: string };
  export function button(content?: unknown, options?: Options): HTMLElement & { value: unknown };
  export function radio(data: unknown, options?: Options): HTMLElement & { value: unknown };
  export function checkbox(data: unknown, options?: Options): HTMLElement & { value: unknown };
  export function toggle(options?: Options): HTMLElement & { value: boolean };
  export function bind(target: HTMLElement, source: HTMLElement, invalidation?: Promise<unknown>): HTMLElement;
}

declare module "htl" {
  export function html(strings: TemplateStringsArray, ...values: unknown[]): HTMLElement;
  export function svg(strings: TemplateStringsArray, ...values: unknown[]): SVGElement;
}

declare module "d3";
