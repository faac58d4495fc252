/**
 * Numbered schema migrations. Each runs once, in order, inside its own transaction, and is
 * recorded in `schema_migrations`. Never edit a migration that has shipped: add the next one.
 *
 * Times are TIMESTAMP holding UTC, always supplied by the caller (never `current_timestamp`,
 * whose meaning depends on the session time zone). Foreign keys are enforced in code: DuckDB
 * forbids updating rows that a foreign key references, which curation needs.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "datanets, contributors, contributions, validations, submissions, imports",
    sql: `
      create table datanets (
        name             varchar primary key,
        kind             varchar not null check (kind in ('text', 'features')),
        description      varchar,
        source           varchar not null,
        labels           varchar[],
        feature_dim      integer,
        split_rule       varchar not null,
        split_seed       bigint not null,
        test_fraction    double not null,
        contributor_rule varchar not null,
        created_at       timestamp not null
      );

      create table contributors (
        id           varchar primary key,
        display_name varchar not null,
        rule         varchar not null,
        first_seen   timestamp not null
      );

      -- One row per distinct content in a Datanet: id is the content hash. Every copy that
      -- was submitted (duplicates included) is kept in submissions.
      create table contributions (
        datanet      varchar not null,
        id           varchar not null,
        contributor  varchar not null,
        title        varchar,
        text         varchar,
        html         varchar,
        features     float[],
        label        varchar not null,
        split        varchar not null check (split in ('train', 'test')),
        status       varchar not null check (status in ('pending', 'approved', 'rejected', 'quarantined')),
        submitted_at timestamp not null,
        source       varchar not null,
        primary key (datanet, id)
      );

      create sequence validations_seq start 1;
      -- Append-only: the code has no update or delete path for it.
      create table validations (
        seq          bigint primary key default nextval('validations_seq'),
        datanet      varchar not null,
        contribution varchar not null,
        validator    varchar not null,
        verdict      varchar not null check (verdict in ('pending', 'approved', 'rejected', 'quarantined', 'flagged')),
        rule         varchar,
        reason       varchar,
        decided_at   timestamp not null
      );

      create table imports (
        id                  varchar primary key,
        datanet             varchar not null,
        source              varchar not null,
        source_sha256       varchar,
        importer            varchar not null,
        rows_read           bigint not null,
        contributions_added bigint not null,
        duplicates          bigint not null,
        started_at          timestamp not null,
        finished_at         timestamp not null
      );

      create table submissions (
        import_id    varchar not null,
        ord          bigint not null,
        datanet      varchar not null,
        contribution varchar not null,
        contributor  varchar not null,
        source       varchar not null,
        submitted_at timestamp not null,
        duplicate    boolean not null,
        primary key (import_id, ord)
      );
    `,
  },
  {
    version: 2,
    name: "runs: the cell graph's run log",
    sql: `
      -- One row per cell execution (or reuse of a cached artifact). The latest succeeded run of
      -- a cell is its current output; staleness compares it with what the cell would be now.
      create table runs (
        id             varchar primary key,
        pipeline       varchar not null,
        cell           varchar not null,
        kind           varchar not null,
        kind_version   varchar not null,
        params_json    varchar not null,
        inputs_json    varchar not null,
        source_version varchar,
        fingerprint    varchar not null,
        data_version   varchar,
        artifact       varchar,
        rows           bigint,
        status         varchar not null check (status in ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
        cached         boolean not null,
        error          varchar,
        pid            integer not null,
        started_at     timestamp not null,
        finished_at    timestamp
      );
    `,
  },
  {
    version: 3,
    name: "usage ledger, rewards, settlements, reputation",
    sql: `
      -- Executed inferences. Amounts are integer base units (18 decimals) in HUGEINT: exact, and
      -- wide enough for 10^30. Recording is idempotent on id.
      create table inferences (
        id             varchar primary key,
        pipeline       varchar,
        model_id       varchar not null,
        model_kind     varchar not null,
        payload_json   varchar not null,
        payload_sha256 varchar not null,
        prediction     varchar not null,
        confidence     double not null,
        fee            hugeint not null check (fee >= 0),
        caller         varchar not null,
        epoch          varchar not null,
        source         varchar not null,
        executed_at    timestamp not null
      );
      -- One line per inference and recipient: who got what of which fee, and why.
      create table rewards (
        pipeline     varchar not null,
        policy       varchar not null,
        epoch        varchar not null,
        inference_id varchar not null,
        receipt_hash varchar not null,
        recipient    varchar not null,
        role         varchar not null,
        amount       hugeint not null check (amount >= 0),
        reason       varchar not null,
        primary key (pipeline, policy, inference_id, recipient, role)
      );
      -- Per epoch and recipient: the total, the inferences behind it, the top reasons.
      create table settlements (
        pipeline   varchar not null,
        policy     varchar not null,
        epoch      varchar not null,
        recipient  varchar not null,
        role       varchar not null,
        amount     hugeint not null check (amount >= 0),
        inferences integer not null,
        reason     varchar not null,
        settled_at timestamp not null,
        primary key (pipeline, policy, epoch, recipient, role)
      );
      -- Contributors whose net influence over an epoch was negative: they earned nothing from it.
      create table reputation (
        pipeline      varchar not null,
        epoch         varchar not null,
        contributor   varchar not null,
        net_influence double not null,
        record        varchar not null,
        recorded_at   timestamp not null,
        primary key (pipeline, epoch, contributor)
      );
    `,
  },
  {
    version: 4,
    name: "pipeline files",
    sql: `
      -- Where each pipeline was last run from (absolute path): \`tracebook dev\` can then watch a
      -- pipeline kept outside pipelines/, which its name alone would not find.
      create table pipeline_files (
        pipeline    varchar primary key,
        file        varchar not null,
        recorded_at timestamp not null
      );
    `,
  },
  {
    version: 5,
    name: "attribution receipts archive",
    sql: `
      -- Every receipt a reward line cites, kept for as long as the line: a receipts cell's table
      -- is replaced by the next run and its file collected by gc, but a fee paid on a receipt
      -- must stay checkable (its JSON, whose sha256 the line cites). Append-only.
      create table attribution_receipts (
        receipt_hash varchar primary key,
        pipeline     varchar not null,
        inference_id varchar not null,
        model_id     varchar not null,
        receipt      varchar not null,
        archived_at  timestamp not null
      );
    `,
  },
  {
    version: 6,
    name: "penalties per epoch and model",
    sql: `
      -- A penalty is decided over one model's inferences in an epoch (the sign of a contributor's
      -- net follows the model), so a record names the model. DuckDB cannot change a primary key
      -- in place. A record written before was decided over every inference the run settled in
      -- the epoch: where those lines name one model, it is that model's; else '' (several, as one).
      create table reputation_v6 (
        pipeline      varchar not null,
        epoch         varchar not null,
        model_id      varchar not null,
        contributor   varchar not null,
        net_influence double not null,
        record        varchar not null,
        recorded_at   timestamp not null,
        primary key (pipeline, epoch, model_id, contributor)
      );
      insert into reputation_v6
        select p.pipeline, p.epoch, coalesce(one.model_id, ''), p.contributor, p.net_influence, p.record, p.recorded_at
        from reputation p left join (
          select r.pipeline, r.epoch, min(i.model_id) as model_id from rewards r join inferences i on i.id = r.inference_id
          group by all having count(distinct i.model_id) = 1
        ) one on one.pipeline = p.pipeline and one.epoch = p.epoch;
      drop table reputation;
      alter table reputation_v6 rename to reputation;
      -- Every (epoch, model) whose penalties a run decided, penalised or not, over how many
      -- inferences: once the model is retrained, an inference of it settled later is split under
      -- the penalties already decided, so the lines paid and the records never disagree.
      create table penalty_scopes (
        pipeline    varchar not null,
        epoch       varchar not null,
        model_id    varchar not null,
        inferences  integer not null,
        penalised   integer not null,
        decided_at  timestamp not null,
        primary key (pipeline, epoch, model_id)
      );
    `,
  },
  {
    version: 7,
    name: "epoch closures",
    sql: `
      -- A closed epoch's settlement is final: no run changes its reward lines, statement or
      -- penalties, and no inference is recorded in it. The root is the Merkle root of its reward
      -- lines (every policy's) when it was closed, so a reviewer can check they are unchanged.
      create table epoch_closures (
        pipeline   varchar not null,
        epoch      varchar not null,
        closed_at  timestamp not null,
        closed_by  varchar not null,
        inferences integer not null,
        fees       hugeint not null,
        lines      integer not null,
        lines_root varchar not null,
        primary key (pipeline, epoch)
      );
    `,
  },
  {
    version: 8,
    name: "reward split state",
    sql: `
      -- What a pipeline's reward lines were last split under, written with them: the settings
      -- (code version, policy, creator) and the last approval record read. A run under the same
      -- settings keeps the lines of inferences whose receipt, cited approvals and penalties have
      -- not moved since, and splits only the others.
      create table reward_splits (
        pipeline      varchar not null,
        policy        varchar not null,
        settings      varchar not null,
        approvals_seq bigint not null,
        split_at      timestamp not null,
        primary key (pipeline, policy)
      );
    `,
  },
  {
    version: 9,
    name: "why each cell ran",
    sql: `
      -- Why each cell ran (the reason the scheduler acted on: what moved since its last output,
      -- forced, never run), the pipeline run it was part of (one id per scheduler call) and what
      -- started that (tracebook run, a watcher, a settling infer), so tracebook log can
      -- say afterwards what ran and why. Earlier runs keep nulls: the log works their reason out
      -- from the run before, and groups them by process.
      alter table runs add column pipeline_run varchar;
      alter table runs add column started_by varchar;
      alter table runs add column reason varchar;
    `,
  },
];
