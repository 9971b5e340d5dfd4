-- 0010: a change to the legacy tables (0005) is a provisioning change too.
-- They notify the sync follower like the others but did not move
-- provisioning_changed (0004), so the sync-lag gauge, and the test kit's
-- wait for the read model (testkit/edge.py wait_synced: the follower's
-- edge:synced_at at or past changed_at), missed a change made to them alone
-- (a namespace's addresses). Statement-level, as in 0004.
CREATE TRIGGER legacy_identities_changed AFTER INSERT OR UPDATE OR DELETE ON legacy_identities
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER legacy_namespaces_changed AFTER INSERT OR UPDATE OR DELETE ON legacy_namespaces
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER legacy_namespace_addresses_changed
    AFTER INSERT OR UPDATE OR DELETE ON legacy_namespace_addresses
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
