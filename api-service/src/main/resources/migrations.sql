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
