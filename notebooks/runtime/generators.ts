// Observable's Generators: values over time that the runtime iterates (each new value re-runs the readers).

export interface ObservedGenerator<T> extends Iterator<Promise<T>> {
  [Symbol.iterator](): ObservedGenerator<T>;
}

/** A generator of the values passed to `change`; `initialize` returns a dispose function, called when the runtime stops iterating. */
export function observe<T>(initialize: (change: (value: T) => T) => void | (() => void)): ObservedGenerator<T> {
  let stale = false;
  let value: T;
  let resolve: ((value: T) => void) | null = null;
  const change = (x: T) => {
    if (resolve) {
      resolve(x);
      resolve = null;
    } else stale = true;
    return (value = x);
  };
  const dispose = initialize(change);
  const generator: ObservedGenerator<T> = {
    [Symbol.iterator]: () => generator,
    next() {
      if (stale) {
        stale = false;
        return { done: false, value: Promise.resolve(value) };
      }
      return { done: false, value: new Promise<T>((r) => (resolve = r)) };
    },
    return() {
      dispose?.();
      return { done: true, value: undefined };
    },
    throw() {
      return { done: true, value: undefined };
    },
  };
  return generator;
}

type Valued = Element & { value?: unknown; checked?: boolean; type?: string; multiple?: boolean; files?: FileList | null };

function eventOf(element: Valued): string {
  switch (element.type) {
    case "button": case "submit": case "checkbox": return "click";
    case "file": return "change";
    default: return "input";
  }
}

function valueOf(element: Valued): unknown {
  switch (element.type) {
    case "range": case "number": return (element as HTMLInputElement).valueAsNumber;
    case "date": return (element as HTMLInputElement).valueAsDate;
    case "checkbox": return element.checked;
    case "file": return element.multiple ? element.files : element.files?.[0];
    case "select-multiple": return Array.from((element as HTMLSelectElement).selectedOptions, (o) => o.value);
    default: return element.value;
  }
}

/** The values of an input (an Inputs form or a plain <input>), starting with its current one. */
export function input<T = unknown>(element: Element): ObservedGenerator<T> {
  const el = element as Valued;
  return observe<T>((change) => {
    const event = eventOf(el);
    const value = valueOf(el);
    const inputted = () => change(valueOf(el) as T);
    el.addEventListener(event, inputted);
    if (value !== undefined) change(value as T);
    return () => el.removeEventListener(event, inputted);
  });
}

/** The width of an element, updated when it resizes. */
export function width(element: Element): ObservedGenerator<number> {
  return observe<number>((change) => {
    let last = -1;
    const measure = () => {
      const w = Math.floor(element.getBoundingClientRect().width);
      // An empty content box (the width is all padding) is a passing layout, e.g. while a
      // full-page screenshot resizes the viewport: charts drawn at it have negative sizes.
      const style = getComputedStyle(element);
      const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) || 0;
      if (w !== last && w > padding) change((last = w));
    };
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    measure();
    if (last < 0) change((last = 640));
    return () => observer.disconnect();
  });
}

export const Generators = { observe, input, width };
