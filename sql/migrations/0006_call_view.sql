-- 0006: a call as people see it.
--
-- edge_cdr (0004) gains what a person reading records asks for: the number
-- the dialled string resolved to (callee stays the string as dialled), the
-- caller as the callee was shown it (edgecore/identity.py: a number the callee
-- can dial back, and the display name), a flag for a recording tenant's call
-- connected unrecorded (no pool member up), and for a leg a pool member rang
-- back, the edge Call-ID of the call it belongs to (X-Edge-Call, passed on by
-- the member's dialplan). final_code is the code the caller received (a
-- relayed 503 is 500: kemi/failure.py), duration_ms the talk time (acc
-- cdr_start_on_confirmed), recording the whole file name.
ALTER TABLE edge_cdr
    ADD COLUMN resolved        text,                          -- number in callee_tenant
    ADD COLUMN caller_id       text,                          -- as presented to the callee
    ADD COLUMN caller_name     text,
    ADD COLUMN unrecorded      boolean NOT NULL DEFAULT false,
    ADD COLUMN parent_call_id  text;                          -- pool_leg: its call's call_id
CREATE INDEX edge_cdr_callee_tenant_setup ON edge_cdr (callee_tenant, setup_at);
CREATE INDEX edge_cdr_parent ON edge_cdr (parent_call_id) WHERE parent_call_id IS NOT NULL;

-- One row per call, with who answered: the device the edge connected, or for
-- a call a pool member served, the device of the member's leg that answered
-- (joined by parent_call_id), else the member itself.
CREATE VIEW edge_call AS
SELECT c.*,
       CASE WHEN c.answer_at IS NULL THEN NULL
            WHEN c.pool_member IS NULL THEN c.callee_tenant || '*' || c.resolved
            ELSE coalesce((SELECT l.callee_tenant || '*' || l.resolved FROM edge_cdr l
                            WHERE l.kind = 'pool_leg' AND l.parent_call_id = c.call_id
                              AND l.answer_at IS NOT NULL
                            ORDER BY l.answer_at LIMIT 1), c.pool_member)
       END AS answered_by
  FROM edge_cdr c
 WHERE c.kind = 'call';

-- A tenant may require recording: with no pool member up its calls are
-- refused 503 instead of connected unrecorded (kemi/pool.py).
ALTER TABLE tenants
    ADD COLUMN recording_required boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT tenants_required_records CHECK (recording OR NOT recording_required);

-- The media members' CDRs: Asterisk writes one row per dialled leg plus one
-- for the dialplan after an unanswered Dial, all with the call's linkedid.
-- The dialplan sets dest (the dialled number) and edge_call_id (the join key
-- with edge_cdr.call_id) on every row; asterisk_call is one row per call.
ALTER TABLE asterisk_cdr
    ADD COLUMN dest          text NOT NULL DEFAULT '',
    ADD COLUMN edge_call_id  text NOT NULL DEFAULT '';
CREATE INDEX asterisk_cdr_linkedid ON asterisk_cdr (linkedid);
CREATE INDEX asterisk_cdr_edge_call_id ON asterisk_cdr (edge_call_id);

CREATE VIEW asterisk_call AS
SELECT linkedid,
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
 GROUP BY linkedid;
