-- 0003: CDRs written by the Asterisk media pool members (cdr_pgsql).
-- cdr_pgsql fills every column whose name is a CDR field or a CDR variable
-- the dialplan set (asterisk-pool/etc/asterisk/extensions.conf): tenant,
-- caller_tenant, kind and recording are those variables, so every member
-- CDR carries the tenant it belongs to.
CREATE TABLE asterisk_cdr (
    id             bigserial PRIMARY KEY,
    calldate       timestamptz NOT NULL DEFAULT now(),
    clid           text NOT NULL DEFAULT '',
    src            text NOT NULL DEFAULT '',
    dst            text NOT NULL DEFAULT '',
    dcontext       text NOT NULL DEFAULT '',
    channel        text NOT NULL DEFAULT '',
    dstchannel     text NOT NULL DEFAULT '',
    lastapp        text NOT NULL DEFAULT '',
    lastdata       text NOT NULL DEFAULT '',
    duration       integer NOT NULL DEFAULT 0,
    billsec        integer NOT NULL DEFAULT 0,
    disposition    text NOT NULL DEFAULT '',
    amaflags       integer NOT NULL DEFAULT 0,
    accountcode    text NOT NULL DEFAULT '',
    uniqueid       text NOT NULL DEFAULT '',
    linkedid       text NOT NULL DEFAULT '',
    peeraccount    text NOT NULL DEFAULT '',
    sequence       integer NOT NULL DEFAULT 0,
    userfield      text NOT NULL DEFAULT '',
    tenant         text NOT NULL DEFAULT '',
    caller_tenant  text NOT NULL DEFAULT '',
    kind           text NOT NULL DEFAULT '',
    recording      text NOT NULL DEFAULT ''
);
CREATE INDEX asterisk_cdr_tenant_calldate ON asterisk_cdr (tenant, calldate);
