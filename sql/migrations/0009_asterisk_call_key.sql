-- 0009: asterisk_call is one row per call across the whole pool.
-- 0006 grouped the members' CDRs by linkedid alone: a linkedid is
-- <epoch>.<counter> per Asterisk instance (no systemname), so two members'
-- calls of the same second shared one and were merged into one row. A call
-- is now keyed by the edge's Call-ID (edge_call_id, set on every row by the
-- dialplan); a row without one (not rung through the edge's headers) by its
-- member (asterisk.conf systemname, set per member by entrypoint.sh, written
-- by the dialplan as CDR(member)) and linkedid.
ALTER TABLE asterisk_cdr ADD COLUMN member text NOT NULL DEFAULT '';

DROP VIEW asterisk_call;
CREATE VIEW asterisk_call AS
SELECT coalesce(nullif(edge_call_id, ''), member || '/' || linkedid) AS call_key,
       min(linkedid)                         AS linkedid,
       max(member)                           AS member,
       max(edge_call_id)                     AS edge_call_id,
       max(tenant)                           AS tenant,
       max(caller_tenant)                    AS caller_tenant,
       max(kind)                             AS kind,
       max(src)                              AS src,
       max(dest)                             AS dest,
       min(calldate)                         AS calldate,
       max(duration)                         AS duration,
       max(billsec)                          AS billsec,
       CASE WHEN bool_or(disposition = 'ANSWERED') THEN 'ANSWERED'
            ELSE max(disposition) END        AS disposition,
       max(nullif(dstchannel, '')) FILTER (WHERE disposition = 'ANSWERED') AS answered_channel,
       max(nullif(recording, ''))            AS recording,
       count(*)                              AS cdr_rows
  FROM asterisk_cdr
 GROUP BY 1;
