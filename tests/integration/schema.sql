-- pgrestify integration-test schema (PostgreSQL 15, PostgREST 12).
--
-- Loaded by scripts/testenv.sh into the `postgres` database of a throwaway
-- cluster before PostgREST starts. Re-runnable: drops and recreates the
-- schemas; roles are created only if missing.
--
-- PostgREST roles:
--   authenticator  LOGIN NOINHERIT, the role PostgREST connects as
--                  (testenv.sh replaces the password below with a random one)
--   anon           NOLOGIN, requests without a JWT
--   web_user       NOLOGIN, requests with a JWT {"role":"web_user"}

SET client_min_messages = warning;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD 'pgrestify-test';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_user') THEN
    CREATE ROLE web_user NOLOGIN;
  END IF;
END
$$;

GRANT anon, web_user TO authenticator;

DROP SCHEMA IF EXISTS api CASCADE;
DROP SCHEMA IF EXISTS other CASCADE;
CREATE SCHEMA api;
CREATE SCHEMA other;

-- ---------------------------------------------------------------------------
-- api tables
-- ---------------------------------------------------------------------------

CREATE TABLE api.users (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  email       text UNIQUE NOT NULL,
  role        text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'guest')),
  active      boolean DEFAULT true,
  created_at  timestamptz DEFAULT now(),
  updated_at  timestamptz DEFAULT now(),
  last_login  timestamptz,
  deleted_at  timestamptz,
  status      text
);

CREATE TABLE api.posts (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES api.users(id) ON DELETE CASCADE,
  title       text NOT NULL,
  body        text,
  published   boolean DEFAULT false,
  created_at  timestamptz DEFAULT now()
);

CREATE TABLE api.sales (
  id          bigserial PRIMARY KEY,
  region      text NOT NULL,
  product     text NOT NULL,
  amount      numeric(12,2) NOT NULL CHECK (amount >= 0),
  sold_at     timestamptz DEFAULT now()
);

-- Composite primary key.
CREATE TABLE api.inventory (
  warehouse   text NOT NULL,
  sku         text NOT NULL,
  qty         int NOT NULL DEFAULT 0 CHECK (qty >= 0),
  note        text,
  PRIMARY KEY (warehouse, sku)
);

-- Text primary key (deletes/filters with awkward characters).
CREATE TABLE api.tags (
  key         text PRIMARY KEY,
  label       text
);

-- Deliberately no primary key and no unique constraint.
CREATE TABLE api.events (
  id          bigserial,
  kind        text NOT NULL,
  payload     jsonb
);

CREATE TABLE api.products (
  id          bigserial PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  price       numeric(10,2) NOT NULL,
  stock       int NOT NULL DEFAULT 0,
  updated_at  timestamptz DEFAULT now()
);

-- Readable by web_user (JWT) only; anon gets a permission error.
CREATE TABLE api.secrets (
  id          serial PRIMARY KEY,
  value       text
);
INSERT INTO api.secrets (value) VALUES ('s3cr3t');

-- ---------------------------------------------------------------------------
-- other schema (Accept-Profile / Content-Profile tests)
-- ---------------------------------------------------------------------------

CREATE TABLE other.notes (
  id          bigserial PRIMARY KEY,
  body        text
);

-- ---------------------------------------------------------------------------
-- RPC functions
-- ---------------------------------------------------------------------------

-- POST /rpc/reset_tables: empty every test table and restart its ids.
-- SECURITY DEFINER because TRUNCATE needs table ownership.
CREATE FUNCTION api.reset_tables() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  TRUNCATE api.users, api.posts, api.sales, api.inventory, api.tags,
           api.events, api.products, other.notes
    RESTART IDENTITY CASCADE;
END
$$;

-- POST /rpc/delete_inactive_users {"before": "<timestamptz>"}
-- Deletes inactive users not seen since `before`; returns how many.
CREATE FUNCTION api.delete_inactive_users(before timestamptz) RETURNS integer
LANGUAGE sql
AS $$
  WITH d AS (
    DELETE FROM api.users
     WHERE active = false
       AND (last_login IS NULL OR last_login < delete_inactive_users.before)
    RETURNING 1
  )
  SELECT count(*)::integer FROM d;
$$;

-- POST /rpc/soft_delete_users {"ids": [1,2,3]}
-- Marks the given users deleted and inactive; returns how many rows matched.
CREATE FUNCTION api.soft_delete_users(ids bigint[]) RETURNS integer
LANGUAGE sql
AS $$
  WITH u AS (
    UPDATE api.users
       SET deleted_at = now(), active = false
     WHERE id = ANY (soft_delete_users.ids)
    RETURNING 1
  )
  SELECT count(*)::integer FROM u;
$$;

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

GRANT USAGE ON SCHEMA api, other TO anon, web_user;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA api, other TO anon, web_user;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA api, other TO anon, web_user;
REVOKE ALL ON api.secrets FROM anon;
REVOKE ALL ON SEQUENCE api.secrets_id_seq FROM anon;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO anon, web_user;
