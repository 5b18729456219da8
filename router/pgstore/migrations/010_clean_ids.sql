-- routeops schema, version 10: ids without control or bidi characters.
--
-- Org, queue, team and agent ids come from integrations and people, and
-- every face of routeops prints them. routeops escapes what it prints, but
-- an id that carries a terminal escape, a C1 control or a right-to-left
-- override is never a name anyone meant: the database refuses them, for
-- every writer, with a CHECK constraint.
--
-- The characters refused are those the output sanitizer escapes
-- (router.UnsafeRune, which a test compares with this function): C0 and
-- C1 controls, DEL, the bidi and direction marks (U+061C, U+200E, U+200F,
-- U+202A-U+202E, U+2066-U+2069) and the line and paragraph separators
-- (U+2028, U+2029).

CREATE FUNCTION routeops_clean_text(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT s !~ E'[\\u0001-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029]'
$$;

-- routeops_escape_text shows such characters as \x1b or \u202e, and cuts
-- the text at 64 characters, so that a report can name an offender
-- without replaying it on the reader's terminal.
CREATE FUNCTION routeops_escape_text(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT coalesce(string_agg(
           CASE WHEN routeops_clean_text(c) THEN c
                WHEN ascii(c) < 256 THEN E'\\x' || lpad(to_hex(ascii(c)), 2, '0')
                ELSE E'\\u' || lpad(to_hex(ascii(c)), 4, '0') END, '' ORDER BY i), '')
       || CASE WHEN length(s) > 64 THEN '…' ELSE '' END
FROM regexp_split_to_table(left(s, 64), '') WITH ORDINALITY AS t(c, i)
$$;

-- Ids written before this version are checked first. Offenders stop the
-- migration with a list of them (escaped), rather than a bare constraint
-- violation; nothing changes until they are renamed or removed. (A NOT
-- VALID constraint would let the upgrade through, but PostgreSQL checks
-- CHECK constraints on every UPDATE of a row, so the engine's writes to an
-- offending queue or agent would fail and stop its org from routing.)
DO $$
DECLARE
    n    bigint;
    list text;
BEGIN
    WITH bad AS (
        SELECT 'org ' || routeops_escape_text(id) AS what FROM orgs WHERE NOT routeops_clean_text(id)
        UNION ALL
        SELECT 'queue ' || routeops_escape_text(org_id) || '/' || routeops_escape_text(id) FROM queues WHERE NOT routeops_clean_text(id)
        UNION ALL
        SELECT 'team ' || routeops_escape_text(org_id) || '/' || routeops_escape_text(id) FROM teams WHERE NOT routeops_clean_text(id)
        UNION ALL
        SELECT 'agent ' || routeops_escape_text(org_id) || '/' || routeops_escape_text(id) FROM agents WHERE NOT routeops_clean_text(id)),
    numbered AS (SELECT what, row_number() OVER (ORDER BY what) AS rn FROM bad)
    SELECT count(*), string_agg(what, ', ' ORDER BY rn) FILTER (WHERE rn <= 20) INTO n, list FROM numbered;
    IF n > 0 THEN
        RAISE EXCEPTION '%', format('%s id(s) contain control or bidi characters, which routeops no longer accepts '
            '(shown escaped): %s%s. Rename or remove them, then run routeops migrate again; nothing was changed. '
            'Find them with: SELECT id FROM orgs WHERE id ~ %L (and likewise queues, teams, agents)',
            n, list, CASE WHEN n > 20 THEN format(' and %s more', n - 20) ELSE '' END,
            E'[\\u0001-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029]')
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

ALTER TABLE orgs ADD CONSTRAINT orgs_id_clean CHECK (routeops_clean_text(id));
ALTER TABLE queues ADD CONSTRAINT queues_id_clean CHECK (routeops_clean_text(id));
ALTER TABLE teams ADD CONSTRAINT teams_id_clean CHECK (routeops_clean_text(id));
ALTER TABLE agents ADD CONSTRAINT agents_id_clean CHECK (routeops_clean_text(id));
