-- routeops schema, version 15: when an engine last reached each queue.
--
-- A queue whose head has waited, with free capacity and no assignment,
-- is stalled only if an engine looked at it in that time and assigned
-- nothing from it. If no engine has reached it (a backlog over many
-- orgs, passes that take longer than usual), it is behind, which is a
-- warning and not a page. The routing transaction writes last_routed_at
-- for every queue it claimed items from, with the assignment counters it
-- already writes there (a HOT update: no index covers these columns).
ALTER TABLE queues ADD COLUMN last_routed_at timestamptz;
