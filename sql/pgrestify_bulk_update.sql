-- pgrestify_bulk_update: per-row bulkUpdate in one statement (pgrestify UpdateStrategy::Function).
--
-- PostgREST 12 cannot PATCH many rows with different values in one request (a PATCH applies one
-- body to every row it matches). This function takes the rows of one request and runs ONE
--   UPDATE <table> AS t SET c = r.c, ... FROM jsonb_populate_recordset(NULL::<table>, rows) AS r
--   WHERE t.<key> = r.<key> ... RETURNING <key columns>
-- so every value gets the column's real type, and only the columns the rows carry are set.
--
-- Install it in the schema PostgREST exposes (`api` below: replace every `api.` with your schema,
-- and install it once per exposed schema you update through pgrestify), let the updating roles
-- execute it, and reload PostgREST's schema cache:
--   psql -f pgrestify_bulk_update.sql            (or: pgrestify sql | psql)
--   GRANT EXECUTE ON FUNCTION api.pgrestify_bulk_update(text, text[], jsonb, boolean, text) TO web_user;
--   NOTIFY pgrst, 'reload schema';
-- pgrestify's UpdateStrategy::Auto uses it when PostgREST's OpenAPI description lists
-- /rpc/pgrestify_bulk_update (see docs/bulk-operations.md).
--
-- Safety:
-- * SECURITY INVOKER: it runs as the calling role, so table grants (UPDATE, and SELECT on the
--   key columns) and row-level security apply exactly as for a PATCH. Granting EXECUTE gives no
--   right on any table.
-- * Identifiers are never concatenated: the table is found by name in pg_class (a `.` or a quote
--   in `target_table` is part of the name, as in a PostgREST URL) and printed as a regclass;
--   columns are checked against pg_attribute and printed with format('%I').
-- * Every row must be an object with the same keys (the first row's); the key columns must be
--   among them and at least one other column. A column the table does not have raises 42703.
--   Database errors (23514, 23505, 42501...) are raised unchanged, so PostgREST answers them with
--   their code and details and pgrestify isolates the failing rows as for a PATCH.
-- * It returns one JSON object per updated row: its key columns, or the whole row when
--   `return_rows`. Rows whose key matched nothing (or that a policy hides) are not returned.
--   A key present twice in one call updates its row once, with either value: pgrestify never
--   sends one key twice in one call.
CREATE OR REPLACE FUNCTION api.pgrestify_bulk_update(
  target_table text,
  key_columns text[],
  rows jsonb,
  return_rows boolean DEFAULT false,
  target_schema text DEFAULT NULL)
RETURNS SETOF json
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
AS $pgrestify$
DECLARE
  rel regclass;
  nsp text := coalesce(target_schema, pg_catalog.current_schema());
  cols text[];
  missing text;
  set_list text;
  where_list text;
  returned text;
BEGIN
  IF rows IS NULL OR pg_catalog.jsonb_typeof(rows) <> 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'pgrestify_bulk_update: rows must be a JSON array of objects';
  END IF;
  IF pg_catalog.jsonb_array_length(rows) = 0 THEN
    RETURN;
  END IF;
  IF key_columns IS NULL OR pg_catalog.cardinality(key_columns) = 0 OR pg_catalog.array_position(key_columns, NULL) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'pgrestify_bulk_update: key_columns must name at least one column';
  END IF;

  SELECT c.oid::regclass INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = nsp AND c.relname = target_table AND c.relkind IN ('r', 'p', 'v', 'f');
  IF rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42P01',
      MESSAGE = pg_catalog.format('relation %I.%I does not exist', nsp, target_table);
  END IF;

  IF pg_catalog.jsonb_typeof(rows -> 0) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'pgrestify_bulk_update: every row must be a JSON object';
  END IF;
  cols := ARRAY(SELECT k FROM pg_catalog.jsonb_object_keys(rows -> 0) AS k ORDER BY k);
  IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(rows) AS e
              WHERE pg_catalog.jsonb_typeof(e) <> 'object'
                 OR ARRAY(SELECT k FROM pg_catalog.jsonb_object_keys(e) AS k ORDER BY k) <> cols) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'pgrestify_bulk_update: every row must be a JSON object with the same keys as the first row';
  END IF;

  SELECT k INTO missing FROM pg_catalog.unnest(key_columns) AS k WHERE NOT k = ANY (cols) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = pg_catalog.format('pgrestify_bulk_update: the rows have no value for key column %I', missing);
  END IF;
  SELECT k INTO missing FROM pg_catalog.unnest(cols) AS k
   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = rel AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42703',
      MESSAGE = pg_catalog.format('column %I of relation %s does not exist', missing, rel);
  END IF;

  SELECT pg_catalog.string_agg(pg_catalog.format('%I = r.%I', k, k), ', ') INTO set_list
    FROM pg_catalog.unnest(cols) AS k WHERE NOT k = ANY (key_columns);
  IF set_list IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'pgrestify_bulk_update: the rows have no columns to update besides the key column(s)';
  END IF;
  SELECT pg_catalog.string_agg(pg_catalog.format('t.%I = r.%I', k, k), ' AND '),
         'pg_catalog.json_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, t.%I', k, k), ', ') || ')'
    INTO where_list, returned
    FROM (SELECT DISTINCT k FROM pg_catalog.unnest(key_columns) AS k) AS keys;
  IF return_rows THEN
    returned := 'pg_catalog.to_json(t.*)';
  END IF;

  RETURN QUERY EXECUTE pg_catalog.format(
    'UPDATE %s AS t SET %s FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS r WHERE %s RETURNING %s',
    rel, set_list, rel, where_list, returned)
    USING rows;
END
$pgrestify$;

COMMENT ON FUNCTION api.pgrestify_bulk_update(text, text[], jsonb, boolean, text) IS
  'pgrestify: per-row bulk UPDATE of the given rows in one statement (SECURITY INVOKER)';
