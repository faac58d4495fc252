// The public surface of the engine: re-exports only.

// store: the workspace database, Arrow results, exports
export { openWorkspace, resolveWorkspaceHome, migrate, nowUtc, DEFAULT_HOME, DB_FILE } from "./store/workspace.ts";
export type { Workspace, Params } from "./store/workspace.ts";
export { exportQuery, exportFormatOf, quoteIdent, quoteLiteral } from "./store/export.ts";
export type { ExportFormat, ExportResult } from "./store/export.ts";
export { writeAtomically, writeFileAtomic } from "./store/atomic.ts";
export { migrations } from "./store/migrations.ts";

// datanet: contributions, hashing, splits, ingest, catalog
export { InputError } from "./datanet/errors.ts";
export type { InputLocation } from "./datanet/errors.ts";
export { contributionId, canonicalText, canonicalFeatures, sha256Hex } from "./datanet/hash.ts";
export type { ContributionContent } from "./datanet/hash.ts";
export { splitOf, SPLIT_RULE } from "./datanet/split.ts";
export type { Split } from "./datanet/split.ts";
export { ingest, loadDatanetSpec, dropDatanetRows } from "./datanet/ingest.ts";
export type { IngestMode, IngestOptions, ImportSummary } from "./datanet/ingest.ts";
export { checkContribution } from "./datanet/check.ts";
export { listDatanets, describeDatanet } from "./datanet/catalog.ts";
export type { DatanetSummary, DatanetDetail } from "./datanet/catalog.ts";
export { STATUSES, DATANET_NAME } from "./datanet/types.ts";
export type { Status, DatanetKind, DatanetSpec, ContributionInput, ContributorInfo } from "./datanet/types.ts";
export * as limits from "./datanet/limits.ts";

// graph: pipelines of cells, fingerprints, artifacts, runs, status
export { pipeline, descendants, ancestorsAndSelf } from "./graph/pipeline.ts";
export type { Pipeline } from "./graph/pipeline.ts";
export { PipelineError } from "./graph/cell.ts";
export type { Cell, CellContext, CellInput, CellResult, SourceVersion } from "./graph/cell.ts";
export { sql, param, SqlParam } from "./graph/sql.ts";
export { datanet, snapshotRoot } from "./datanet/cell.ts";
export type { DatanetFilter } from "./datanet/cell.ts";
export { validations } from "./datanet/validations.ts";
export type { ValidationsOptions } from "./datanet/validations.ts";
export { canonicalJson, fingerprint, merkleRoot, merkleTree, rootFromPath } from "./graph/fingerprint.ts";
export type { MerkleStep } from "./graph/fingerprint.ts";
export { artifactPath, materialize, contentVersion } from "./graph/artifacts.ts";
export { groupedVersion, groupsPath } from "./graph/groups.ts";
export type { OutputGroups } from "./graph/groups.ts";
export { runPipeline } from "./graph/scheduler.ts";
export { bringUpToDate } from "./graph/ensure.ts";
export type { GraphEvent, RunOptions, RunSummary } from "./graph/scheduler.ts";
export { pipelineStatus } from "./graph/status.ts";
export type { CellState, CellStatus } from "./graph/status.ts";
export { cellHistories } from "./graph/runs.ts";
export { attachCellTables, withCellTables } from "./graph/cell-tables.ts";
export type { CellTables, CellTablesOptions } from "./graph/cell-tables.ts";
export type { RunRecord, RunStatus } from "./graph/runs.ts";
export { newestRuns, runLog, runSeconds } from "./graph/history.ts";
export { runOutcome } from "./graph/outcome.ts";
export type { LoggedRun, PipelineRunLog } from "./graph/history.ts";
export { loadPipeline, resolvePipelineFile } from "./graph/loader.ts";
// A cell kind of one's own checks its options as the shipped ones do (a zod schema; graph/options.ts).
export { checkOptions } from "./graph/options.ts";

// Compute: the TF.js backend, chosen once per process, and seeded randomness.
export { computeBackend, describeBackend, BACKENDS } from "./compute/backend.ts";
export type { BackendName, ComputeBackend } from "./compute/backend.ts";
export { adapterName } from "./compute/adapter.ts";
export type { AdapterRecord } from "./compute/adapter.ts";
export { Rng, deriveSeed } from "./compute/random.ts";

// ModelFactory: featurizers, the MLP and its LoRA adapters, training, the model store, cells.
export { featurize, hashedNgrams, rawFeatures } from "./factory/featurize.ts";
export type { FeaturizerSpec, FeatureMatrix, Payload } from "./factory/featurize.ts";
export { forward, initBase, initAdapter, layerNames } from "./factory/mlp.ts";
export type { MlpSpec, LoraConfig, HostWeights } from "./factory/mlp.ts";
export { learningRate } from "./factory/optimize.ts";
export type { OptimizerConfig, ScheduleConfig } from "./factory/optimize.ts";
export { train, evaluate } from "./factory/train.ts";
export type { TrainConfig, TrainResult, MetricRow, Checkpoint } from "./factory/train.ts";
export { modelId, readManifest, loadWeights, loadCheckpoint, readContributions, modelDir, FACTORY_VERSION } from "./factory/store.ts";
export type { ModelManifest, ContributionRef, CheckpointRecord } from "./factory/store.ts";
export { baseModel, finetune, modelOf } from "./factory/cells.ts";
export type { BaseModelParams, FinetuneParams } from "./factory/cells.ts";

// Attribution: TracInCP over checkpoints, influence tables, self-influence, receipts.
export { tracin as runTracin, selfInfluence as runSelfInfluence } from "./attribution/tracin.ts";
export type { TracinMode, TracinCheckpoint, TracinRequest, TracinResult } from "./attribution/tracin.ts";
export { exampleFactors, factorsFrom } from "./attribution/factors.ts";
export type { Factor, TracinModel, WeightSource } from "./attribution/factors.ts";
export { checkpointGroups, stackedFactors, stackedFeatures, stackedScores, stackedSelfInfluence } from "./attribution/stacked.ts";
export type { GroupLayout, Projection, StackedCheckpoints, StackedFactor } from "./attribution/stacked.ts";
export { tracinCell as tracin, selfInfluenceCell as selfInfluence } from "./attribution/cells.ts";
export { ATTRIBUTION_VERSION } from "./attribution/version.ts";
export type { TracinParams } from "./attribution/cells.ts";
export { receipts, receiptHash, RECEIPT_FORMAT } from "./attribution/receipts.ts";
export { gradientFeatures as computeGradientFeatures, scoreWithFeatures, gradientFeaturesCell as gradientFeatures } from "./attribution/features.ts";
export { Explainer } from "./attribution/explain.ts";
export type { ExplainSource, ExplainOptions, ExplainAnswer, Explanation, ExplainedContribution, ExplainedGroup } from "./attribution/explain.ts";
export { explainSource, cellsAsRun, chooseTracin, contributionsToExplain } from "./attribution/source.ts";
export { PortableExplainerEngine } from "./attribution/portable.ts";
export type { PortableExplainer, PortableExplainOptions } from "./attribution/portable.ts";
export { encodePortable, decodePortable } from "./attribution/portable-file.ts";
export type { ContributionToExplain, CellKinds } from "./attribution/source.ts";
export { recomputeReceipts, explainThrough } from "./attribution/recompute.ts";
export { lineageTrain } from "./attribution/lineage.ts";
export { lineageAttribution } from "./attribution/cells.ts";
export type { Recomputation } from "./attribution/recompute.ts";
export { creditOf, rankGroups } from "./attribution/credit.ts";
export type { Credit } from "./attribution/credit.ts";

// Rewards: the usage ledger, workloads, split policies, settlement.
export { recordInferences, infer, inferCalls, inferCallBatches, payloadOf, epochOf, type Call, type Executed } from "./rewards/ledger.ts";
export type { InferenceRecord, InferOptions } from "./rewards/ledger.ts";
export { inferences } from "./rewards/workload.ts";
export type { WorkloadParams } from "./rewards/workload.ts";
export { usageLedger, usageQuery } from "./rewards/usage.ts";
export type { UsageLedgerParams } from "./rewards/usage.ts";
export { archiveReceipts, catchUpReceipts, NOT_ATTRIBUTED } from "./rewards/archive.ts";
export { checkPayment } from "./rewards/payment.ts";
export type { PaymentCheck } from "./rewards/payment.ts";
export { parseAmount, formatAmount, parseShare, DECIMALS, UNIT } from "./rewards/amounts.ts";
export { parsePolicy, DEFAULT_POLICY } from "./rewards/policy.ts";
export type { SplitPolicy, ParsedPolicy } from "./rewards/policy.ts";
export { splitFee, PROTOCOL } from "./rewards/split.ts";
export type { SplitInput, Part, Influence } from "./rewards/split.ts";
export { rewardSplit } from "./rewards/cell.ts";
export { penaltyRecords } from "./rewards/records.ts";
export type { PenaltyRecordsParams } from "./rewards/records.ts";
export type { RewardSplitParams } from "./rewards/cell.ts";
export { judgePenalties, recordedPenalties, penaltyKey } from "./rewards/penalties.ts";
export type { PenaltyScope, RecordedScope } from "./rewards/penalties.ts";
export { closeEpoch, closedEpochs, epochLines } from "./rewards/closures.ts";
export type { Closure } from "./rewards/closures.ts";
export { parseProof, rewardProof, verifyProof, PROOF_FORMAT } from "./rewards/proof.ts";
export type { ProofCheck, ProofLine, RewardProof } from "./rewards/proof.ts";
export { recipientStatement } from "./rewards/recipient.ts";
export type { RecipientEpoch } from "./rewards/recipient.ts";

// Attribution quality: LOCO, LDS, mislabel detection and rank statistics.
export { loco, lds, DEFAULT_MODES } from "./quality/cells.ts";
export { mislabel, flipLabels } from "./quality/mislabel.ts";
export type { MislabelParams } from "./quality/mislabel.ts";
export type { ModeSpec } from "./quality/cells.ts";
export { spearman, pearson, ranks, auc, recallAtK } from "./quality/metrics.ts";
export { retrainOn } from "./quality/retrain.ts";
// What if these contributions had never been given: a retrain without them, beside TracIn's estimate.
export { counterfactual, compareOutputs, accuracyAndLoss } from "./quality/counterfactual.ts";
// What a model cell's last retrain changed, and two models compared (`tracebook model diff`).
export { retrainDiff } from "./quality/retrain-diff.ts";
export type { RetrainDiffParams } from "./quality/retrain-diff.ts";
export { compareBehaviour } from "./quality/behaviour.ts";
export type { Behaviour, ChangedOutput } from "./quality/behaviour.ts";
export { diffLineage, diffSettings } from "./factory/diff.ts";
export type { LineageDiff, RowChange, RowsDiff, SettingChange } from "./factory/diff.ts";
export { cellHistory, cellModels, modelHistory, paidUse, standingOf } from "./factory/catalog.ts";
export type { CellModel, ModelEntry, PaidUse } from "./factory/catalog.ts";
export type { ModelStanding } from "./factory/standing.ts";
export type { CounterfactualParams, OutputChange, ComparisonSummary } from "./quality/counterfactual.ts";
export { canonicalRemoval, describeRemoval, splitRows, untrainedIds } from "./quality/removal.ts";
export type { Removal } from "./quality/removal.ts";

// Curation: rule sets, the validate cell, label-error scores, the review queue, decisions, reputation.
export { validate, runRules, VALIDATE_VERSION } from "./curation/validate.ts";
export type { ValidateOptions } from "./curation/validate.ts";
export { parseRuleSet, ruleSetFile, defaultRuleSet, ruleRef, RULES_FORMAT, RULE_KINDS } from "./curation/ruleset.ts";
export type { RuleSet, Rule, RuleKind } from "./curation/ruleset.ts";
export type { Flag, Severity } from "./curation/flags.ts";
export { labelErrors } from "./curation/label-errors.ts";
export type { LabelErrorParams } from "./curation/label-errors.ts";
export { labelSignals, labelErrorScore, DEFAULT_WEIGHTS } from "./curation/signals.ts";
export type { LabelSignals, ScoreWeights } from "./curation/signals.ts";
export { rankQueue } from "./curation/queue.ts";
export type { QueueItem, LabelScore } from "./curation/queue.ts";
export { reviewQueue } from "./curation/review.ts";
export { curate } from "./curation/decisions.ts";
export type { CurationDecision } from "./curation/decisions.ts";
export { contributorReputation, REPUTATION_FORMULA } from "./curation/reputation.ts";
export { plantErrors } from "./curation/plant.ts";
