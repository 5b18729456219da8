-- routeops schema, version 3: a cheaper routeops_attributes_valid.
--
-- Same rules as before (and as router.ParseAttributes; a test checks that
-- they agree on every document PostgreSQL can store), without a
-- subquery (which keeps PostgreSQL from inlining a SQL function) or a
-- set-returning function per row for the key check, without a regex for
-- the priority, and without rendering the document as text for a size
-- check that no document passing the other rules can fail (the largest
-- valid attributes are a few KB). verify and repair plan evaluate it for
-- every live item.
CREATE OR REPLACE FUNCTION routeops_attributes_valid(a jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN a IS NULL OR jsonb_typeof(a) <> 'object' THEN false
    -- only the five known keys
    WHEN (a - '{priority,channel,team,skills,tier}'::text[]) <> '{}'::jsonb THEN false
    WHEN jsonb_typeof(a -> 'priority') IS DISTINCT FROM 'number' THEN false
    -- a whole number 0..100 (jsonb prints a scale-0 numeric as digits)
    WHEN scale((a -> 'priority')::numeric) <> 0 THEN false
    WHEN (a -> 'priority')::numeric NOT BETWEEN 0 AND 100 THEN false
    WHEN jsonb_typeof(a -> 'channel') IS DISTINCT FROM 'string' THEN false
    WHEN (a ->> 'channel') NOT IN ('chat', 'email', 'sms', 'voice') THEN false
    WHEN coalesce(jsonb_typeof(a -> 'team'), 'null') NOT IN ('null', 'string') THEN false
    WHEN jsonb_typeof(a -> 'team') = 'string' AND length(a ->> 'team') NOT BETWEEN 1 AND 64 THEN false
    WHEN coalesce(jsonb_typeof(a -> 'tier'), 'null') NOT IN ('null', 'string') THEN false
    WHEN jsonb_typeof(a -> 'tier') = 'string' AND length(a ->> 'tier') NOT BETWEEN 1 AND 32 THEN false
    WHEN coalesce(jsonb_typeof(a -> 'skills'), 'null') NOT IN ('null', 'array') THEN false
    -- each skill a string of 1 to 64 characters; a jsonpath rather than a
    -- subquery, because a subquery keeps PostgreSQL from inlining the
    -- function, which costs ten times more per row
    WHEN jsonb_typeof(a -> 'skills') = 'array' AND (
             jsonb_array_length(a -> 'skills') > 32
             OR jsonb_path_exists(a -> 'skills',
                    'strict $[*] ? (@.type() != "string" || !(@ like_regex "^.{1,64}$" flag "s"))')) THEN false
    ELSE true
END
$$;
