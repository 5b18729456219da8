-- routeops schema, version 2: a cheaper routing transaction.

-- routeops_assert raises when a check fails, so that a pipelined routing
-- transaction aborts (and its COMMIT becomes a no-op) instead of
-- committing a half-checked batch.
CREATE FUNCTION routeops_assert(ok boolean, msg text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'routeops: %', msg USING ERRCODE = 'check_violation';
    END IF;
    RETURN true;
END $$;

-- Every assignment appends an event, so the events indexes are on the hot
-- path. Time order is the table's physical order: a BRIN index serves
-- "events since T" for a fraction of a btree's upkeep, and a small partial
-- btree serves the incident timeline, which leaves out assignments and
-- completions.
DROP INDEX events_at;
CREATE INDEX events_at_brin ON events USING brin (at);
CREATE INDEX events_incident ON events (at, id) WHERE kind NOT IN ('assigned', 'completed');
