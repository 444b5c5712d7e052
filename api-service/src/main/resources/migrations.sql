--liquibase formatted sql

--changeset kosmosx:1-accounts
CREATE TABLE accounts (
  id             text PRIMARY KEY,
  username       text NOT NULL UNIQUE,
  email          text NOT NULL,
  password_hash  text NOT NULL,
  role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'finance', 'admin')),
  webhook_secret text NOT NULL,
  created_at     timestamptz NOT NULL,
  deleted_at     timestamptz
);

CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  account_id   text NOT NULL REFERENCES accounts (id),
  name         text,
  prefix       text NOT NULL,
  -- SHA-256 of the key; the key itself is never stored.
  key_hash     bytea NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);

--changeset kosmosx:2-jobs
CREATE TABLE jobs (
  id            text PRIMARY KEY,
  account_id    text NOT NULL REFERENCES accounts (id),
  type          text NOT NULL CHECK (type IN ('text', 'image')),
  status        text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  lane          text NOT NULL,
  input         jsonb,
  output        jsonb,
  metadata      jsonb,
  input_tokens  integer,
  output_tokens integer,
  images        integer,
  error_code    text,
  error_message text,
  created_at    timestamptz NOT NULL,
  started_at    timestamptz,
  completed_at  timestamptz
);
CREATE INDEX jobs_account_created ON jobs (account_id, created_at DESC, id DESC);

-- Transactional outbox: written in the same transaction as the job row, relayed to Kafka.
CREATE TABLE outbox (
  id         bigserial PRIMARY KEY,
  topic      text NOT NULL,
  msg_key    text NOT NULL,
  payload    bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

--changeset kosmosx:3-rate-limits
-- Fixed-window counters shared by every API instance: one row per bucket and window.
CREATE TABLE rate_limits (
  bucket       text NOT NULL,
  window_start timestamptz NOT NULL,
  count        integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);
-- The per-account cap on unfinished jobs counts these.
CREATE INDEX jobs_unfinished ON jobs (account_id) WHERE status IN ('queued', 'running');

--changeset kosmosx:4-job-lifecycle
ALTER TABLE jobs ADD COLUMN webhook jsonb;
ALTER TABLE jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE jobs ADD COLUMN erased_at timestamptz;
-- Listing pages newest first by id (ids are time-ordered).
CREATE INDEX jobs_account_id ON jobs (account_id, id DESC);
-- Retention sweeps finished jobs whose content is still there.
CREATE INDEX jobs_retention ON jobs (completed_at) WHERE erased_at IS NULL;
-- Idempotency-Key: the first answer per account and key, replayed for 24 h.
CREATE TABLE idempotency_keys (
  account_id   text NOT NULL,
  idem_key     text NOT NULL,
  request_hash bytea NOT NULL,
  job_id       text NOT NULL,
  response     text NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- One row per webhook event (its id is the webhook-id every retry repeats), written in the same
-- transaction as the job update that caused it, so an event is never lost or doubled.
CREATE TABLE webhook_deliveries (
  id              text PRIMARY KEY,
  job_id          text NOT NULL,
  account_id      text NOT NULL,
  event           text NOT NULL,
  url             text NOT NULL,
  payload         bytea NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'gone')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);
CREATE TABLE webhook_attempts (
  delivery_id text NOT NULL REFERENCES webhook_deliveries (id),
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL,
  status_code integer,
  error       text,
  duration_ms integer NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

--changeset kosmosx:5-plans
-- Plan changes per account and product; each applies from the first day of a month (UTC).
CREATE TABLE account_plans (
  account_id     text NOT NULL REFERENCES accounts (id),
  product        text NOT NULL CHECK (product IN ('text', 'image')),
  plan           text NOT NULL CHECK (plan IN ('payg', 'dedicated')),
  lane           text,
  effective_from date NOT NULL CHECK (extract(day FROM effective_from) = 1),
  created_at     timestamptz NOT NULL,
  PRIMARY KEY (account_id, product, effective_from)
);

--changeset kosmosx:6-usage-rollups
-- The metering rollups topic, upserted idempotently (totals are cumulative: never go backwards).
CREATE TABLE usage_rollups (
  rollup_key       text PRIMARY KEY,
  account_id       text NOT NULL,
  product          text NOT NULL,
  period           text NOT NULL CHECK (period IN ('hour', 'day', 'month')),
  period_start     timestamptz NOT NULL,
  plan             text NOT NULL,
  adjustment       boolean NOT NULL,
  requests         bigint NOT NULL,
  input_tokens     bigint NOT NULL,
  output_tokens    bigint NOT NULL,
  billable_tokens  bigint NOT NULL,
  images           bigint NOT NULL,
  billable_images  bigint NOT NULL,
  detection_images bigint NOT NULL,
  payg_amount      numeric NOT NULL,
  detection_amount numeric NOT NULL,
  dedicated_units  bigint NOT NULL,
  allowance_used   bigint NOT NULL,
  overage_units    bigint NOT NULL,
  overage_amount   numeric NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX usage_rollups_period ON usage_rollups (period, period_start, account_id);

--changeset kosmosx:7-submit-path
-- Rate-limit counters are per-minute scratch data: unlogged, so a submission's counter update
-- writes no WAL and waits for no flush. After a PostgreSQL crash the table is empty, which only
-- forgives the current window.
ALTER TABLE rate_limits SET UNLOGGED;

--changeset kosmosx:8-loop-runtime
-- What a background loop could not apply (an unreadable event, a row the database refuses, an
-- outbox message Kafka will not take, a webhook that can never be sent), set aside with its reason
-- so everything behind it flows; admins list and replay them (GET /v1/admin/quarantine).
CREATE TABLE quarantine (
  id          bigserial PRIMARY KEY,
  loop        text NOT NULL,
  source      text NOT NULL,
  topic       text,
  msg_key     text,
  reason      text NOT NULL,
  payload     bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  replayed_at timestamptz
);
CREATE INDEX quarantine_open ON quarantine (id) WHERE replayed_at IS NULL;
-- An outbox row Kafka refuses is retried on its own backoff, then quarantined, instead of blocking
-- every row behind it.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE outbox ADD COLUMN last_error text;

--changeset kosmosx:9-job-deadline
-- When a queued job stops waiting (a replay moves it), so jobs on a lane no worker serves end at
-- their deadline with a clear code instead of waiting silently.
ALTER TABLE jobs ADD COLUMN deadline_at timestamptz;
CREATE INDEX jobs_queued_deadline ON jobs (deadline_at) WHERE status = 'queued';

--changeset kosmosx:10-invoice-close
-- A closed month's invoice, frozen: one item per account, product and origin month (the month
-- itself, or an earlier closed month whose later usage is billed here as an adjustment).
CREATE TABLE invoice_months (
  month      date PRIMARY KEY CHECK (extract(day FROM month) = 1),
  closed_at  timestamptz NOT NULL,
  closed_by  text NOT NULL
);
CREATE TABLE invoice_items (
  month            date NOT NULL REFERENCES invoice_months (month),
  account_id       text NOT NULL,
  product          text NOT NULL CHECK (product IN ('text', 'image')),
  origin_month     date NOT NULL,
  plan             text NOT NULL CHECK (plan IN ('payg', 'dedicated')),
  fee_usd          numeric NOT NULL,
  included_units   bigint NOT NULL,
  billable_units   bigint NOT NULL,
  overage_units    bigint NOT NULL,
  detection_images bigint NOT NULL,
  usage_usd        numeric NOT NULL,
  detection_usd    numeric NOT NULL,
  PRIMARY KEY (month, account_id, product, origin_month)
);
CREATE INDEX invoice_items_origin ON invoice_items (origin_month, account_id, product);

--changeset kosmosx:11-outbox-trace
-- The trace id of the request that wrote a row; the relay sends it as the record's traceparent.
ALTER TABLE outbox ADD COLUMN trace_id text;

--changeset kosmosx:12-submit-call splitStatements:false
-- A submission in one call: the account's lock, its Idempotency-Key, the unfinished cap, its lane,
-- the job row and its outbox message. Called outside a transaction, the lock is held only while
-- the server runs this and commits (each statement inside reads after the lock: READ COMMITTED
-- takes a snapshot per statement), never across a round trip to the API. The caller built the
-- message for p_lane; when the account's lane is another one, nothing is written and the answer
-- names the lane, so the caller builds the message again (a plan change, rare).
CREATE FUNCTION kosmos_submit(
  p_account text, p_cap integer, p_product text, p_today date,
  p_idem_key text, p_idem_since timestamptz, p_request_hash bytea, p_response text,
  p_id text, p_lane text, p_input text, p_metadata text, p_webhook text,
  p_created_at timestamptz, p_deadline_at timestamptz, p_topic text, p_payload bytea,
  p_trace_id text)
RETURNS TABLE (outcome text, job_id text, request_hash bytea, response text, lane text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_unfinished integer;
  v_lane text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(p_account));
  IF p_idem_key IS NOT NULL THEN
    RETURN QUERY SELECT 'replay'::text, k.job_id, k.request_hash, k.response, NULL::text
      FROM idempotency_keys k
      WHERE k.account_id = p_account AND k.idem_key = p_idem_key AND k.created_at > p_idem_since;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  SELECT count(*) INTO v_unfinished FROM (SELECT 1 FROM jobs j WHERE j.account_id = p_account
    AND j.status IN ('queued', 'running') LIMIT p_cap) AS u;
  IF v_unfinished >= p_cap THEN
    RETURN QUERY SELECT 'too_many'::text, NULL::text, NULL::bytea, NULL::text, NULL::text;
    RETURN;
  END IF;
  SELECT COALESCE((SELECT CASE WHEN a.plan = 'dedicated' THEN a.lane END FROM account_plans a
    WHERE a.account_id = p_account AND a.product = p_product AND a.effective_from <= p_today
    ORDER BY a.effective_from DESC LIMIT 1), 'shared') INTO v_lane;
  IF v_lane <> p_lane THEN
    RETURN QUERY SELECT 'lane'::text, NULL::text, NULL::bytea, NULL::text, v_lane;
    RETURN;
  END IF;
  INSERT INTO jobs (id, account_id, type, status, lane, input, metadata, webhook, created_at,
      deadline_at)
    VALUES (p_id, p_account, p_product, 'queued', p_lane, CAST(p_input AS jsonb),
      CAST(p_metadata AS jsonb), CAST(p_webhook AS jsonb), p_created_at, p_deadline_at);
  INSERT INTO outbox (topic, msg_key, payload, trace_id)
    VALUES (p_topic, p_id, p_payload, p_trace_id);
  IF p_idem_key IS NOT NULL THEN
    INSERT INTO idempotency_keys (account_id, idem_key, request_hash, job_id, response, created_at)
      VALUES (p_account, p_idem_key, p_request_hash, p_id, p_response, p_created_at)
      ON CONFLICT (account_id, idem_key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
        job_id = EXCLUDED.job_id, response = EXCLUDED.response, created_at = EXCLUDED.created_at;
  END IF;
  RETURN QUERY SELECT 'accepted'::text, p_id, NULL::bytea, NULL::text, p_lane;
END
$$;
