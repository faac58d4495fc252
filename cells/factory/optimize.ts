import { tf } from "../compute/backend.ts";

/**
 * Optimizers and learning-rate schedules, written out rather than taken from tf.train: the
 * learning rate in force at every step must be known exactly (TracIn weighs each checkpoint by
 * it), and the same code must run the same way on every backend.
 */
export type OptimizerConfig =
  | { name: "sgd"; momentum?: number }
  | { name: "adam"; beta1?: number; beta2?: number; epsilon?: number };

export type ScheduleConfig =
  | { kind: "constant"; lr: number; warmup?: number }
  | { kind: "linear"; lr: number; final?: number; warmup?: number }
  | { kind: "cosine"; lr: number; final?: number; warmup?: number }
  | { kind: "step"; lr: number; every: number; factor: number; warmup?: number };

/** The learning rate for step `step` (0-based) of `total`; a linear warm-up first when asked. */
export function learningRate(s: ScheduleConfig, step: number, total: number): number {
  const warmup = s.warmup ?? 0;
  if (step < warmup) return (s.lr * (step + 1)) / warmup;
  const t = total > warmup ? (step - warmup) / Math.max(1, total - warmup - 1) : 0;
  switch (s.kind) {
    case "constant": return s.lr;
    case "linear": return s.lr + ((s.final ?? 0) - s.lr) * Math.min(1, t);
    case "cosine": return (s.final ?? 0) + (s.lr - (s.final ?? 0)) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
    case "step": return s.lr * s.factor ** Math.floor((step - warmup) / s.every);
  }
}

export function checkSchedule(s: ScheduleConfig): void {
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw new Error(`learning rate must be a positive number, got ${s.lr}`);
  if (s.kind === "step" && !(s.every >= 1 && s.factor > 0)) throw new Error("step schedule needs every >= 1 and factor > 0");
  if (!["constant", "linear", "cosine", "step"].includes(s.kind)) throw new Error(`unknown schedule "${(s as { kind: string }).kind}" (constant, linear, cosine, step)`);
}

export interface Optimizer {
  /** Apply one update with learning rate `lr` to the variables, given their gradients. */
  step(vars: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void;
  dispose(): void;
}

export function makeOptimizer(config: OptimizerConfig): Optimizer {
  const slots = new Map<string, tf.Variable[]>();
  const slot = (name: string, like: tf.Tensor, count: number) => {
    let s = slots.get(name);
    if (!s) {
      s = Array.from({ length: count }, () => tf.variable(tf.zerosLike(like), false));
      slots.set(name, s);
    }
    return s;
  };
  let t = 0;
  const dispose = () => {
    for (const s of slots.values()) s.forEach((v) => v.dispose());
    slots.clear();
  };
  if (config.name === "sgd") {
    const momentum = config.momentum ?? 0;
    return {
      step(vars, grads, lr) {
        tf.tidy(() => {
          for (const [name, v] of Object.entries(vars)) {
            const g = grads[name]!;
            if (momentum > 0) {
              const [m] = slot(name, v, 1) as [tf.Variable];
              m.assign(tf.add(tf.mul(m, momentum), g));
              v.assign(tf.sub(v, tf.mul(m, lr)));
            } else {
              v.assign(tf.sub(v, tf.mul(g, lr)));
            }
          }
        });
      },
      dispose,
    };
  }
  if (config.name !== "adam") throw new Error(`unknown optimizer "${(config as { name: string }).name}" (sgd, adam)`);
  const b1 = config.beta1 ?? 0.9, b2 = config.beta2 ?? 0.999, eps = config.epsilon ?? 1e-8;
  return {
    step(vars, grads, lr) {
      t += 1;
      const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
      tf.tidy(() => {
        for (const [name, v] of Object.entries(vars)) {
          const g = grads[name]!;
          const [m, s] = slot(name, v, 2) as [tf.Variable, tf.Variable];
          m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
          s.assign(tf.add(tf.mul(s, b2), tf.mul(tf.square(g), 1 - b2)));
          const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(s, c2)), eps));
          v.assign(tf.sub(v, tf.mul(update, lr)));
        }
      });
    },
    dispose,
  };
}
