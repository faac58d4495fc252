import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DECIMALS, formatAmount, formatShare, parseAmount, parseShare, UNIT } from "../cells/rewards/amounts.ts";
import { DEFAULT_PARSED_POLICY, DEFAULT_POLICY, parsePolicy, type ParsedPolicy } from "../cells/rewards/policy.ts";
import { apportion, exactIntegers, PROTOCOL, splitFee, type Influence, type Part, type SplitInput } from "../cells/rewards/split.ts";

// Seeded so that a failure reproduces; fast-check prints the counterexample either way.
const RUNS = { seed: 20_240_611, numRuns: 300 };

// ---------- generators ----------

const feeArb = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 999n, 10n ** 30n),
  fc.bigInt({ min: 0n, max: 10n ** 30n }),
  fc.bigInt({ min: 0n, max: 10_000n }),
);

/** Four shares summing to exactly 1, as three cut points in [0, UNIT]. */
const policyArb: fc.Arbitrary<ParsedPolicy> = fc
  .record({
    cuts: fc.array(fc.bigInt({ min: 0n, max: UNIT }), { minLength: 3, maxLength: 3 }),
    percent: fc.boolean(),
    min: fc.option(fc.bigInt({ min: 0n, max: UNIT / 2n }), { nil: undefined }),
    dust: fc.constantFrom("next" as const, "protocol" as const),
    version: fc.integer({ min: 1, max: 1000 }),
  })
  .map(({ cuts, percent, min, dust, version }) => {
    const [a, b, c] = [...cuts].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)) as [bigint, bigint, bigint];
    const parts = [a, b - a, c - b, UNIT - c];
    // Percent strings need the share to be a multiple of 100 ppe18; round down and give the
    // difference to the last share so the sum stays exactly 1.
    const fmt = (v: bigint) => (percent ? formatShare(v) : formatAmount(v));
    const shares = percent ? parts.map((v) => v - (v % 100n)) : parts;
    shares[3]! += UNIT - shares.reduce((s, v) => s + v, 0n);
    return parsePolicy({
      name: "gen",
      version,
      shares: { protocol: fmt(shares[0]!), creator: fmt(shares[1]!), validators: fmt(shares[2]!), contributors: fmt(shares[3]!) },
      ...(min === undefined ? {} : { minContributorShare: formatAmount(min) }),
      dust,
    });
  });

const scoreArb = fc.oneof(
  fc.double({ min: -10, max: 10, noNaN: true }),
  fc.constantFrom(0, -0, 1e-300, 5e-324, 1e300, -1e300, 0.1, 0.2, 0.3),
);

const contributorArb = fc.constantFrom("alice", "bob", "carol", "dave", "erin", "frank");

const influenceArb: fc.Arbitrary<Influence[]> = fc.array(
  fc.record({
    contribution: fc.constantFrom("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"),
    contributor: contributorArb,
    score: scoreArb,
    order: fc.integer({ min: 0, max: 50 }),
  }),
  { maxLength: 14 },
);

const validatorsArb = fc.array(
  fc.record({
    validator: fc.constantFrom("v0", "v1", "v2", "v3", "v4"),
    weight: fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }), fc.integer({ min: 0, max: 5 })),
  }),
  { maxLength: 6 },
);

const inputArb: fc.Arbitrary<SplitInput> = fc
  .record({
    fee: feeArb,
    policy: policyArb,
    validators: validatorsArb,
    influence: influenceArb,
    excluded: fc.subarray(["alice", "bob", "carol", "dave", "erin", "frank"], { maxLength: 3 }),
  })
  .map(({ excluded, ...r }) => ({ ...r, creator: "maker", excluded: new Set(excluded) }));

// ---------- helpers ----------

const sum = (parts: Part[]) => parts.reduce((s, p) => s + p.amount, 0n);
const canon = (parts: Part[]) =>
  parts.map((p) => `${p.role}|${p.recipient}|${p.amount}|${p.reason}`).sort();

/** Deterministic Fisher–Yates from a seed. */
function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---------- properties ----------

describe("splitFee properties", () => {
  it("conserves the fee to the base unit; every part is positive", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const parts = splitFee(input);
        expect(sum(parts)).toBe(input.fee);
        for (const p of parts) expect(p.amount > 0n).toBe(true);
        if (input.fee === 0n) expect(parts).toEqual([]);
        // one line per (recipient, role)
        expect(new Set(parts.map((p) => `${p.role}|${p.recipient}`)).size).toBe(parts.length);
      }),
      RUNS,
    );
  });

  it("gives each role its policy share within one base unit (creator line)", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const creator = splitFee(input).find((p) => p.role === "creator")?.amount ?? 0n;
        const exact = input.fee * input.policy.shares.creator; // in units × 10^18
        const diff = creator * UNIT - exact;
        expect(diff > -UNIT && diff < UNIT).toBe(true);
      }),
      RUNS,
    );
  });

  it("is invariant under permutation of the influence and validator lists", () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), fc.integer(), (input, s1, s2) => {
        const shuffled = { ...input, influence: shuffle(input.influence, s1), validators: shuffle(input.validators, s2) };
        expect(canon(splitFee(shuffled))).toEqual(canon(splitFee(input)));
      }),
      RUNS,
    );
  });

  it("gains nothing from duplicated content (copies with a later order, same or other contributor)", () => {
    fc.assert(
      fc.property(
        inputArb.filter((i) => i.influence.length > 0),
        fc.array(fc.record({ pick: fc.nat(), contributor: contributorArb, later: fc.integer({ min: 1, max: 100 }), score: scoreArb, same: fc.boolean() }), { minLength: 1, maxLength: 4 }),
        fc.integer(),
        (input, copies, seed) => {
          const extra = copies.map((c) => {
            const orig = input.influence[c.pick % input.influence.length]!;
            return {
              contribution: orig.contribution,
              contributor: c.same ? orig.contributor : c.contributor,
              score: c.score,
              order: orig.order + c.later,
            };
          });
          const withCopies = { ...input, influence: shuffle([...input.influence, ...extra], seed) };
          expect(canon(splitFee(withCopies))).toEqual(canon(splitFee(input)));
        },
      ),
      RUNS,
    );
  });

  it("pays excluded (penalised) contributors nothing", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        for (const p of splitFee(input)) {
          if (p.role === "contributor") expect(input.excluded!.has(p.recipient)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it("pays no contributor whose net influence is ≤ 0", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const paid = splitFee(input).filter((p) => p.role === "contributor").map((p) => p.recipient);
        for (const who of paid) expect(input.influence.some((e) => e.contributor === who && e.score > 0)).toBe(true);
      }),
      RUNS,
    );
  });

  it("is idempotent and does not mutate its input", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const before = structuredClone({ ...input, policy: { ...input.policy } });
        const a = splitFee(input);
        const b = splitFee(input);
        expect(b).toEqual(a);
        expect({ ...input, policy: { ...input.policy } }).toEqual(before);
      }),
      RUNS,
    );
  });

  it("depends only on ratios: scaling scores or weights by a power of two changes nothing", () => {
    fc.assert(
      fc.property(inputArb, fc.constantFrom(0.25, 2, 1024), (input, k) => {
        const scaled = {
          ...input,
          influence: input.influence.map((e) => ({ ...e, score: e.score * k })),
          validators: input.validators.map((v) => ({ ...v, weight: v.weight * k })),
        };
        // Scaling is exact unless it overflows or underflows the double range.
        fc.pre(scaled.influence.every((e, i) => Number.isFinite(e.score) && e.score / k === input.influence[i]!.score));
        fc.pre(scaled.validators.every((v, i) => Number.isFinite(v.weight) && v.weight / k === input.validators[i]!.weight));
        expect(canon(splitFee(scaled))).toEqual(canon(splitFee(input)));
      }),
      RUNS,
    );
  });
});

// ---------- worked examples ----------

describe("splitFee worked examples", () => {
  const base = { policy: DEFAULT_PARSED_POLICY, creator: "maker" };

  it("fee 1000, default policy, two contributors 0.75/0.25, one validator", () => {
    // 5% · 1000 = 50, 15% = 150, 10% = 100, 70% = 700 exactly; pool 700 · 3/4 = 525, · 1/4 = 175.
    const parts = splitFee({
      ...base,
      fee: 1000n,
      validators: [{ validator: "val", weight: 3 }],
      influence: [
        { contribution: "h1", contributor: "alice", score: 0.75, order: 1 },
        { contribution: "h2", contributor: "bob", score: 0.25, order: 2 },
      ],
    });
    expect(parts).toEqual([
      { recipient: PROTOCOL, role: "protocol", amount: 50n, reason: "policy default@1: 5% to the protocol" },
      { recipient: "maker", role: "creator", amount: 150n, reason: "policy default@1: 15% to the model creator" },
      { recipient: "val", role: "validator", amount: 100n, reason: "100% of validator weight (policy default@1: 10% to validators)" },
      { recipient: "alice", role: "contributor", amount: 525n, reason: "75% of positive influence" },
      { recipient: "bob", role: "contributor", amount: 175n, reason: "25% of positive influence" },
    ]);
  });

  it("fee 100001: role rounding, validator rounding, a duplicate, a negative contributor and dust", () => {
    // Roles: 5000.05, 15000.15, 10000.1, 70000.7 → floors sum to 100000; the 1 left goes to the
    //   largest remainder (.7, contributors) → 5000 / 15000 / 10000 / 70001.
    // Validators 2:1 of 10000 → 6666.67, 3333.33 → 6667, 3333.
    // mallory's copy of h1 comes later → dropped; carol nets −0.2 → nothing.
    // Pool 70001 over W = 0.5 + 0.3 + 0.0005 = 0.8005:
    //   alice 43723.297…, bob 26233.978…, dave 43.723… → floors 69999, 2 left → bob (.978), dave (.723).
    //   dave is 0.0625% of W, below 0.1% → his 44 go to the largest remaining, alice: 43723 + 44.
    const parts = splitFee({
      ...base,
      fee: 100_001n,
      validators: [{ validator: "v2", weight: 1 }, { validator: "v1", weight: 2 }],
      influence: [
        { contribution: "h1", contributor: "alice", score: 0.5, order: 1 },
        { contribution: "h2", contributor: "bob", score: 0.3, order: 2 },
        { contribution: "h3", contributor: "carol", score: -0.2, order: 3 },
        { contribution: "h4", contributor: "dave", score: 0.0005, order: 4 },
        { contribution: "h1", contributor: "mallory", score: 0.5, order: 5 },
      ],
    });
    expect(parts).toEqual([
      { recipient: PROTOCOL, role: "protocol", amount: 5000n, reason: "policy default@1: 5% to the protocol" },
      { recipient: "maker", role: "creator", amount: 15000n, reason: "policy default@1: 15% to the model creator" },
      { recipient: "v1", role: "validator", amount: 6667n, reason: "66.67% of validator weight (policy default@1: 10% to validators)" },
      { recipient: "v2", role: "validator", amount: 3333n, reason: "33.33% of validator weight (policy default@1: 10% to validators)" },
      { recipient: "alice", role: "contributor", amount: 43767n, reason: "62.46% of positive influence; dust of 1 contributor below 0.1%" },
      { recipient: "bob", role: "contributor", amount: 26234n, reason: "37.48% of positive influence" },
    ]);
    expect(sum(parts)).toBe(100_001n);
  });

  it("dust mode \"protocol\" sends the dust to the protocol", () => {
    const policy = parsePolicy({ ...DEFAULT_POLICY, name: "dusty", dust: "protocol" });
    const parts = splitFee({
      policy,
      creator: "maker",
      fee: 100_001n,
      validators: [],
      influence: [
        { contribution: "h1", contributor: "alice", score: 0.5, order: 1 },
        { contribution: "h2", contributor: "bob", score: 0.3, order: 2 },
        { contribution: "h4", contributor: "dave", score: 0.0005, order: 4 },
      ],
    });
    // protocol: 5000 + validators' 10000 (no validators) + dave's 44
    expect(parts[0]).toEqual({
      recipient: PROTOCOL,
      role: "protocol",
      amount: 15044n,
      reason: "policy dusty@1: 5% to the protocol; validators' part (10%): no validator with positive weight; dust of 1 contributor below 0.1%",
    });
    expect(parts.find((p) => p.recipient === "alice")!.amount).toBe(43723n);
  });

  it("sends the pool to the protocol when nothing is positive or all are penalised", () => {
    const influence = [{ contribution: "h1", contributor: "alice", score: 1, order: 1 }];
    const none = splitFee({ ...base, fee: 1000n, validators: [], influence: [{ ...influence[0]!, score: -1 }] });
    expect(none).toEqual([
      {
        recipient: PROTOCOL,
        role: "protocol",
        amount: 850n,
        reason: "policy default@1: 5% to the protocol; validators' part (10%): no validator with positive weight; contributor pool (70%): no positive influence",
      },
      { recipient: "maker", role: "creator", amount: 150n, reason: "policy default@1: 15% to the model creator" },
    ]);
    const penalised = splitFee({ ...base, fee: 1000n, validators: [], influence, excluded: new Set(["alice"]) });
    expect(penalised[0]!.amount).toBe(850n);
    expect(penalised[0]!.reason).toContain("no positive influence (1 penalised contributor excluded)");
  });

  it("sends the dust to the protocol when every contributor is below the minimum", () => {
    const policy = parsePolicy({ ...DEFAULT_POLICY, minContributorShare: "40%" });
    const influence = ["a", "b", "c"].map((c, i) => ({ contribution: c, contributor: c, score: 1, order: i }));
    const parts = splitFee({ policy, creator: "maker", fee: 1000n, validators: [{ validator: "v", weight: 1 }], influence });
    expect(parts.filter((p) => p.role === "contributor")).toEqual([]);
    expect(parts[0]!.amount).toBe(750n);
    expect(parts[0]!.reason).toContain("dust of 3 contributors below 40% (no contributor above it)");
  });

  it("breaks equal remainders by role order, validator id and contributor id", () => {
    // 1 unit, 25% each: all remainders equal → protocol gets it.
    const even = parsePolicy({ name: "even", version: 1, shares: { protocol: "25%", creator: "25%", validators: "25%", contributors: "25%" } });
    expect(splitFee({ policy: even, creator: "m", fee: 1n, validators: [], influence: [] }).map((p) => p.role)).toEqual(["protocol"]);
    // All to contributors; 1 unit between two equal contributors → the lower id.
    const all = parsePolicy({ name: "all", version: 1, shares: { protocol: "0", creator: "0", validators: "0", contributors: "1" } });
    const two = [
      { contribution: "x", contributor: "zed", score: 1, order: 0 },
      { contribution: "y", contributor: "amy", score: 1, order: 0 },
    ];
    expect(splitFee({ policy: all, creator: "m", fee: 1n, validators: [], influence: two })).toEqual([
      { recipient: "amy", role: "contributor", amount: 1n, reason: "50% of positive influence" },
    ]);
    const vals = parsePolicy({ name: "v", version: 1, shares: { protocol: "0", creator: "0", validators: "1", contributors: "0" } });
    expect(splitFee({ policy: vals, creator: "m", fee: 1n, validators: [{ validator: "w2", weight: 1 }, { validator: "w1", weight: 1 }], influence: [] })[0]!.recipient).toBe("w1");
  });

  it("keeps the earliest submission of duplicated content, then the lowest contributor id", () => {
    const all = parsePolicy({ name: "all", version: 1, shares: { protocol: "0", creator: "0", validators: "0", contributors: "1" } });
    const copy = (contributor: string, order: number) => ({ contribution: "h", contributor, score: 1, order });
    const who = (influence: Influence[]) => splitFee({ policy: all, creator: "m", fee: 10n, validators: [], influence }).map((p) => p.recipient);
    expect(who([copy("zed", 2), copy("amy", 3)])).toEqual(["zed"]);
    expect(who([copy("zed", 2), copy("amy", 2)])).toEqual(["amy"]);
  });

  it("nets opponents against proponents per contributor", () => {
    const all = parsePolicy({ name: "all", version: 1, shares: { protocol: "0", creator: "0", validators: "0", contributors: "1" } });
    const parts = splitFee({
      policy: all,
      creator: "m",
      fee: 100n,
      validators: [],
      influence: [
        { contribution: "a1", contributor: "a", score: 0.9, order: 0 },
        { contribution: "a2", contributor: "a", score: -0.6, order: 1 },
        { contribution: "b1", contributor: "b", score: 0.1, order: 2 },
      ],
    });
    // nets: a 0.3, b 0.1 → 75 / 25
    expect(parts.map((p) => [p.recipient, p.amount])).toEqual([["a", 75n], ["b", 25n]]);
  });

  it("handles fee 0 and rejects a negative fee or bad inputs", () => {
    expect(splitFee({ ...base, fee: 0n, validators: [], influence: [] })).toEqual([]);
    expect(() => splitFee({ ...base, fee: -1n, validators: [], influence: [] })).toThrow("fee must be ≥ 0, got -1");
    expect(() => splitFee({ ...base, fee: 1n, validators: [{ validator: "v", weight: -1 }], influence: [] })).toThrow("validators[0].weight");
    expect(() => splitFee({ ...base, fee: 1n, validators: [], influence: [{ contribution: "h", contributor: "a", score: NaN, order: 0 }] })).toThrow("influence[0].score");
  });
});

describe("apportion and exactIntegers", () => {
  it("apportions by largest remainder", () => {
    expect(apportion(10n, [1n, 1n, 1n])).toEqual([4n, 3n, 3n]);
    expect(apportion(100n, [2n, 1n])).toEqual([67n, 33n]);
    expect(apportion(5n, [0n, 1n])).toEqual([0n, 5n]);
    expect(() => apportion(5n, [0n, 0n])).toThrow();
  });

  it("turns doubles into exact integers with the same ratios", () => {
    expect(exactIntegers([0.5, 0.25, 0, -0.75])).toEqual([2n, 1n, 0n, -3n]);
    expect(exactIntegers([3, 1])).toEqual([3n, 1n]);
    const [a, b] = exactIntegers([1e300, 5e-324]);
    expect(b).toBe(1n);
    expect(a! > 0n && a!.toString(2).length > 2000).toBe(true);
  });
});

// ---------- policy ----------

describe("parsePolicy", () => {
  const shares = { protocol: "5%", creator: "15%", validators: "10%", contributors: "70%" };
  it("parses the default policy exactly", () => {
    expect(DEFAULT_PARSED_POLICY).toEqual({
      name: "default",
      version: 1,
      id: "default@1",
      shares: { protocol: 5n * 10n ** 16n, creator: 15n * 10n ** 16n, validators: 10n ** 17n, contributors: 7n * 10n ** 17n },
      minContributorShare: 10n ** 15n,
      dust: "next",
      emptyPool: "protocol",
    });
    expect(parsePolicy({ name: "d", version: 2, shares: { protocol: "0.05", creator: "0.15", validators: "0.1", contributors: "0.7" } }).shares).toEqual(DEFAULT_PARSED_POLICY.shares);
  });

  it("rejects shares over and under 100%", () => {
    expect(() => parsePolicy({ name: "default", version: 1, shares: { ...shares, protocol: "10%" } })).toThrow("policy default@1: shares sum to 105%, over 100%");
    expect(() => parsePolicy({ name: "default", version: 1, shares: { ...shares, protocol: "0%" } })).toThrow("policy default@1: shares sum to 95%; they must sum to exactly 100%");
  });

  it("property: any four shares not summing to 1 are rejected", () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: UNIT }), { minLength: 4, maxLength: 4 }), (v) => {
        const total = v.reduce((s, x) => s + x, 0n);
        const p = { name: "p", version: 1, shares: { protocol: formatAmount(v[0]!), creator: formatAmount(v[1]!), validators: formatAmount(v[2]!), contributors: formatAmount(v[3]!) } };
        if (total === UNIT) expect(parsePolicy(p).id).toBe("p@1");
        else expect(() => parsePolicy(p)).toThrow(total > UNIT ? "over 100%" : "must sum to exactly 100%");
      }),
      RUNS,
    );
  });

  it("names the field in its errors", () => {
    const ok = { name: "p", version: 1, shares };
    expect(() => parsePolicy({ ...ok, shares: { ...shares, bonus: "1%" } })).toThrow('policy p@1: unknown share "bonus"');
    const { contributors: _, ...three } = shares;
    expect(() => parsePolicy({ ...ok, shares: three })).toThrow('policy p@1: missing share "contributors"');
    expect(() => parsePolicy({ ...ok, shares: { ...shares, creator: "fifteen" } })).toThrow('policy p@1: shares.creator: invalid share "fifteen"');
    expect(() => parsePolicy({ ...ok, shares: { ...shares, creator: "150%" } })).toThrow("shares.creator");
    expect(() => parsePolicy({ ...ok, version: 0 })).toThrow("version must be a positive integer, got 0");
    expect(() => parsePolicy({ ...ok, version: 1.5 })).toThrow("version must be a positive integer");
    expect(() => parsePolicy({ ...ok, version: "1" })).toThrow("version must be a positive integer");
    expect(() => parsePolicy({ ...ok, dust: "burn" })).toThrow('policy p@1: unknown dust mode "burn"');
    expect(() => parsePolicy({ ...ok, minContributorShare: "2" })).toThrow("minContributorShare");
    expect(() => parsePolicy({ ...ok, minContributorShare: "0.001" }, "pipelines/mail.pipeline.ts")).not.toThrow();
    expect(() => parsePolicy({ ...ok, minContributerShare: "0.001" }, "cfg")).toThrow('cfg: unknown field "minContributerShare"');
    expect(() => parsePolicy(null)).toThrow("policy: expected an object");
  });
});

// ---------- amounts ----------

describe("amounts", () => {
  it("parses exactly", () => {
    expect(DECIMALS).toBe(18);
    expect(parseAmount("0.000000000000000001")).toBe(1n);
    expect(parseAmount("0.002")).toBe(2n * 10n ** 15n);
    expect(parseAmount("12")).toBe(12n * UNIT);
    expect(parseAmount("+1.5")).toBe(15n * 10n ** 17n);
    expect(parseAmount("123456789012345678901234567890.123456789012345678")).toBe(123456789012345678901234567890123456789012345678n);
  });

  it("rejects anything but plain non-negative decimals, naming the place", () => {
    expect(() => parseAmount("1e-3", "fees[3].amount")).toThrow('fees[3].amount: invalid amount "1e-3": exponent notation');
    expect(() => parseAmount("0.1234567890123456789")).toThrow("at most 18 decimals, got 19");
    expect(() => parseAmount("-1")).toThrow("cannot be negative");
    for (const bad of ["", " 1", "1.", ".5", "1,000", "0x10", "Infinity", "NaN", "1_000", "--1"]) {
      expect(() => parseAmount(bad), bad).toThrow("invalid amount");
    }
    expect(() => parseAmount(0.5 as unknown as string, "fee")).toThrow("fee: expected a decimal string");
  });

  it("formats exactly, trimming trailing zeros", () => {
    expect(formatAmount(2n * 10n ** 15n)).toBe("0.002");
    expect(formatAmount(UNIT)).toBe("1");
    expect(formatAmount(0n)).toBe("0");
    expect(formatAmount(1n)).toBe("0.000000000000000001");
    expect(formatAmount(-15n * 10n ** 17n)).toBe("-1.5");
  });

  it("property: formatAmount and parseAmount round-trip", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), (n) => {
        expect(parseAmount(formatAmount(n))).toBe(n);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.stringMatching(/^\d{1,25}(\.\d{1,18})?$/), (s) => {
        // The canonical form of s: no leading zeros in the whole part, no trailing fractional zeros.
        const [w, f = ""] = s.split(".");
        const canonical = `${BigInt(w!)}${f.replace(/0+$/, "") ? `.${f.replace(/0+$/, "")}` : ""}`;
        expect(formatAmount(parseAmount(s))).toBe(canonical);
      }),
      RUNS,
    );
  });

  it("parses shares as decimals or percentages", () => {
    expect(parseShare("0.7")).toBe(7n * 10n ** 17n);
    expect(parseShare("70%")).toBe(7n * 10n ** 17n);
    expect(parseShare("0.1%")).toBe(10n ** 15n);
    expect(parseShare("100%")).toBe(UNIT);
    expect(parseShare("0")).toBe(0n);
    expect(parseShare("0.0000000000000001%")).toBe(1n);
    expect(() => parseShare("0.00000000000000001%")).toThrow("at most 16 decimals");
    expect(() => parseShare("1.01", "x")).toThrow('x: invalid share "1.01": a share is at most 1');
    expect(() => parseShare("-5%")).toThrow("cannot be negative");
    expect(() => parseShare("7e-1")).toThrow("invalid share");
    expect(formatShare(parseShare("12.5%"))).toBe("12.5%");
  });
});
