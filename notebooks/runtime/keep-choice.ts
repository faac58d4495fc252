/**
 * An input that keeps what the user chose on this page when its cell draws it again: a cell that
 * reads the catalog or a query re-runs whenever the watcher brings a new output, and an input it
 * draws would otherwise start over from its default (the attribution chosen back to `influence`,
 * a typed search emptied). The user's last choice under `name` is set on the new input where it
 * still offers it; until the user chooses, the default stands and follows the data. A search
 * keeps its text.
 */
export function keepChoice<T extends HTMLElement & { value: unknown }>(memory: Map<string, unknown>, name: string, input: T): T {
  const search = input.querySelector?.<HTMLInputElement>("input[type=search]");
  if (search) {
    // Inputs.search's value is the rows it matches; its text is the inner box's, set through `query`.
    if (memory.has(name)) (input as T & { query: string }).query = memory.get(name) as string;
    search.addEventListener("input", () => memory.set(name, search.value));
    return input;
  }
  if (memory.has(name)) {
    const initial = input.value;
    const wanted = memory.get(name);
    input.value = wanted;
    // A choice no longer offered (a cell gone from the catalog) leaves the default; a list keeps what is still offered.
    if (!Array.isArray(wanted) && input.value !== wanted) input.value = initial;
  }
  input.addEventListener("input", () => memory.set(name, input.value));
  return input;
}
