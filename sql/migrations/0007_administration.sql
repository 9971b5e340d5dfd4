-- 0007: administration (issue 17): per-tenant quotas, the API's accounts and
-- tokens, and the audit trail of every provisioning change.
--
-- Quotas are enforced by the schema (a trigger), so they hold for every
-- writer: the HTTP API, edgectl, or anything else. The audit trail is written
-- by triggers too: the service layer names who (edge.actor) and what
-- (edge.action) with transaction-local settings; a writer that does not
-- (psql, a bulk load) is still recorded, as its database role.

ALTER TABLE tenants
    ADD COLUMN max_devices     integer CHECK (max_devices IS NULL OR max_devices >= 0),
    ADD COLUMN max_ring_groups integer CHECK (max_ring_groups IS NULL OR max_ring_groups >= 0);

CREATE FUNCTION edge_quota_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lim integer;
    n   bigint;
    what text := CASE TG_TABLE_NAME WHEN 'devices' THEN 'devices' ELSE 'ring groups' END;
BEGIN
    IF TG_TABLE_NAME = 'devices' THEN
        SELECT max_devices INTO lim FROM tenants WHERE id = NEW.tenant_id;
    ELSE
        SELECT max_ring_groups INTO lim FROM tenants WHERE id = NEW.tenant_id;
    END IF;
    IF lim IS NULL THEN
        RETURN NEW;                      -- no quota: nothing to count (bulk loads stay linear)
    END IF;
    -- two concurrent inserts in one tenant must not both pass the count
    PERFORM 1 FROM tenants WHERE id = NEW.tenant_id FOR NO KEY UPDATE;
    IF TG_TABLE_NAME = 'devices' THEN
        SELECT count(*) INTO n FROM devices WHERE tenant_id = NEW.tenant_id;
    ELSE
        SELECT count(*) INTO n FROM ring_groups WHERE tenant_id = NEW.tenant_id;
    END IF;
    IF n >= lim THEN
        RAISE EXCEPTION 'quota exceeded: tenant % may have at most % %', NEW.tenant_id, lim, what
            USING ERRCODE = '23514', HINT = 'quota';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER devices_quota BEFORE INSERT OR UPDATE OF tenant_id ON devices
    FOR EACH ROW EXECUTE FUNCTION edge_quota_check();
CREATE TRIGGER ring_groups_quota BEFORE INSERT OR UPDATE OF tenant_id ON ring_groups
    FOR EACH ROW EXECUTE FUNCTION edge_quota_check();

-- ---------------------------------------------------------------------------
-- Accounts of the HTTP API and console. Passwords are argon2 hashes; a
-- tenant admin belongs to one tenant; a read-only user may be limited to one.

CREATE TABLE admin_users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('provider_admin', 'tenant_admin', 'read_only')),
    tenant_id      text REFERENCES tenants(id) ON DELETE CASCADE,
    totp_secret    text,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT admin_user_tenant CHECK (role <> 'tenant_admin' OR tenant_id IS NOT NULL),
    CONSTRAINT admin_user_provider CHECK (role <> 'provider_admin' OR tenant_id IS NULL)
);
CREATE UNIQUE INDEX admin_users_username_uq ON admin_users (lower(username));

-- bearer tokens: only their SHA-256 is stored; they expire and can be revoked
CREATE TABLE admin_tokens (
    token_sha256  text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX admin_tokens_user ON admin_tokens (user_id);

-- ---------------------------------------------------------------------------
-- The audit trail: who, when, what, before and after. Credentials (a
-- device's HA1, an account's hash and TOTP secret) are never copied: only
-- the fact that they changed.

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,             -- the operation, e.g. device.add
    op          text NOT NULL,             -- INSERT / UPDATE / DELETE / a non-SQL change
    object      text NOT NULL,             -- the table (or store) changed
    tenant_id   text,                      -- the tenant concerned (NULL: edge-wide)
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

CREATE FUNCTION edge_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b jsonb;
    a jsonb;
    t text;
    secret text[] := ARRAY['ha1', 'password_hash', 'totp_secret'];
    k text;
BEGIN
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' AND b = a THEN
        RETURN NULL;
    END IF;
    FOREACH k IN ARRAY secret LOOP
        IF a ? k AND b ? k AND a->k IS DISTINCT FROM b->k THEN
            a := jsonb_set(a, ARRAY[k], '"(changed)"');
            b := jsonb_set(b, ARRAY[k], '"(hidden)"');
        ELSE
            IF a ? k THEN a := jsonb_set(a, ARRAY[k], '"(hidden)"'); END IF;
            IF b ? k THEN b := jsonb_set(b, ARRAY[k], '"(hidden)"'); END IF;
        END IF;
    END LOOP;
    t := coalesce(a, b)->>CASE TG_TABLE_NAME WHEN 'tenants' THEN 'id'
                                             WHEN 'tenant_exceptions' THEN 'from_tenant'
                                             ELSE 'tenant_id' END;
    IF TG_TABLE_NAME = 'ring_group_members' THEN
        SELECT tenant_id INTO t FROM ring_groups
         WHERE id = (coalesce(a, b)->>'ring_group_id')::bigint;
    END IF;
    INSERT INTO audit_log (actor, action, op, object, tenant_id, before, after)
    VALUES (coalesce(nullif(current_setting('edge.actor', true), ''), 'db:' || session_user),
            coalesce(nullif(current_setting('edge.action', true), ''),
                     lower(TG_OP) || ' ' || TG_TABLE_NAME),
            TG_OP, TG_TABLE_NAME, t, b, a);
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_audit AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER number_ranges_audit AFTER INSERT OR UPDATE OR DELETE ON number_ranges
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER devices_audit AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER ring_groups_audit AFTER INSERT OR UPDATE OR DELETE ON ring_groups
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER ring_group_members_audit AFTER INSERT OR UPDATE OR DELETE ON ring_group_members
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER tenant_exceptions_audit AFTER INSERT OR UPDATE OR DELETE ON tenant_exceptions
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
CREATE TRIGGER pool_members_audit AFTER INSERT OR UPDATE OR DELETE ON pool_members
    FOR EACH ROW EXECUTE FUNCTION edge_audit();
-- accounts: created, removed, role or password or TOTP changed (a login's
-- failure counter and lock are not administrative changes)
CREATE TRIGGER admin_users_audit
    AFTER INSERT OR DELETE OR UPDATE OF username, password_hash, role, tenant_id, totp_secret
    ON admin_users FOR EACH ROW EXECUTE FUNCTION edge_audit();
