-- 0002: the media pool as Kamailio's dispatcher module reads it.
--
-- pool_members (0001) is where operators provision; `dispatcher` is a view
-- with the columns and table version (4, Kamailio 5.6) the module expects.
-- One destination set (1). A draining member is loaded "disabled" (flags 4):
-- never selected for a new call, while requests of calls in progress reach
-- it by their route set. Weights are relative shares: the `rweight`
-- attribute of dispatcher's relative-weight algorithm (11), which spreads
-- calls over the members that are up in proportion to their weights and
-- recomputes the shares when one goes down; `duid` names the member.

CREATE TABLE IF NOT EXISTS version (
    id             serial PRIMARY KEY,
    table_name     varchar(32) NOT NULL UNIQUE,
    table_version  integer NOT NULL DEFAULT 0
);
INSERT INTO version (table_name, table_version) VALUES ('version', 1)
    ON CONFLICT (table_name) DO NOTHING;
INSERT INTO version (table_name, table_version) VALUES ('dispatcher', 4)
    ON CONFLICT (table_name) DO UPDATE SET table_version = EXCLUDED.table_version;

CREATE VIEW dispatcher AS
SELECT id,
       1                                           AS setid,
       uri                                         AS destination,
       CASE state WHEN 'draining' THEN 4 ELSE 0 END AS flags,
       0                                           AS priority,
       'rweight=' || weight || ';duid=m' || id     AS attrs,
       coalesce(description, '')                   AS description
  FROM pool_members;
