import { computeBackend, tf } from "../compute/backend.ts";
import { featurize, type Payload } from "./featurize.ts";
import { argmaxAt, classProbabilities } from "./predict.ts";
import { toTensors, type HostWeights, type LoraConfig, type MlpSpec, type Weights } from "./mlp.ts";
import { loadWeights, type ModelManifest } from "./store.ts";

export interface Prediction {
  label: string;
  /** Probability per class, in the model's class order. */
  probabilities: number[];
}

interface LoadedBase { manifest: ModelManifest; weights: Weights }
interface LoadedAdapter { manifest: ModelManifest; lora: LoraConfig; weights: Weights }

/**
 * Serves many adapters over one base (the OpenLoRA idea): each base is loaded once and kept;
 * adapters are small and swapped per request. `stats` says what was loaded, so callers (and
 * tests) can see that two adapters shared one base.
 */
export class ModelServer {
  private readonly bases = new Map<string, LoadedBase>();
  private readonly adapters = new Map<string, LoadedAdapter>();
  readonly stats = { baseLoads: 0, adapterLoads: 0 };

  constructor(private readonly home: string) {}

  /** Predict for payloads with a base or an adapter model, by model id. */
  async infer(modelId: string, inputs: readonly Payload[]): Promise<Prediction[]> {
    await computeBackend(); // a fresh process (the CLI) has not chosen one yet
    const { spec, manifest, base, adapter } = this.resolve(modelId);
    return this.predict(spec, manifest, base, adapter, inputs);
  }

  /** Predict with adapter weights that are not in the store (an imported PEFT adapter) over a stored base. */
  async inferWithAdapter(baseId: string, adapter: { lora: LoraConfig; weights: HostWeights }, inputs: readonly Payload[]): Promise<Prediction[]> {
    await computeBackend();
    const base = this.base(baseId);
    const weights = toTensors(adapter.weights);
    try {
      return await this.predict(base.manifest.spec, base.manifest, base, { lora: adapter.lora, weights }, inputs);
    } finally {
      tf.dispose(Object.values(weights));
    }
  }

  private async predict(
    spec: MlpSpec, manifest: ModelManifest, base: LoadedBase, adapter: { lora: LoraConfig; weights: Weights } | undefined,
    inputs: readonly Payload[],
  ): Promise<Prediction[]> {
    if (!manifest.featurizer) throw new Error(`model ${manifest.id.slice(0, 12)} has no featurizer: give it feature vectors`);
    const x = featurize(manifest.featurizer, inputs);
    const C = spec.classes.length;
    const values = await classProbabilities(spec, x, adapter ? adapter.weights : base.weights, adapter ? { base: base.weights, lora: adapter.lora } : undefined);
    const out: Prediction[] = [];
    for (let r = 0; r < x.rows; r++) out.push({ label: spec.classes[argmaxAt(values, C, r)]!, probabilities: Array.from(values.subarray(r * C, (r + 1) * C)) });
    return out;
  }

  private resolve(modelId: string): { spec: MlpSpec; manifest: ModelManifest; base: LoadedBase; adapter?: { lora: LoraConfig; weights: Weights } } {
    const cached = this.adapters.get(modelId);
    if (cached) return { spec: cached.manifest.spec, manifest: cached.manifest, base: this.base(cached.manifest.base!), adapter: cached };
    if (this.bases.has(modelId)) {
      const base = this.bases.get(modelId)!;
      return { spec: base.manifest.spec, manifest: base.manifest, base };
    }
    const { manifest, weights } = loadWeights(this.home, modelId);
    if (manifest.kind === "adapter") {
      const loaded = { manifest, lora: manifest.lora!, weights: toTensors(weights) };
      this.adapters.set(modelId, loaded);
      this.stats.adapterLoads++;
      return { spec: manifest.spec, manifest, base: this.base(manifest.base!), adapter: loaded };
    }
    const base = { manifest, weights: toTensors(weights) };
    this.bases.set(modelId, base);
    this.stats.baseLoads++;
    return { spec: manifest.spec, manifest, base };
  }

  private base(id: string): LoadedBase {
    let b = this.bases.get(id);
    if (!b) {
      const { manifest, weights } = loadWeights(this.home, id);
      b = { manifest, weights: toTensors(weights) };
      this.bases.set(id, b);
      this.stats.baseLoads++;
    }
    return b;
  }

  /** Free every tensor held. */
  dispose(): void {
    for (const m of [...this.bases.values(), ...this.adapters.values()]) tf.dispose(Object.values(m.weights));
    this.bases.clear();
    this.adapters.clear();
  }
}
