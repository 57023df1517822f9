-- Password-checked logins for test roles. The local server trusts 127.0.0.1, so any password would
-- "work"; members of the role `coffer_password_auth` must instead log in with their password
-- (scram-sha-256), which makes tests of rotated and issued passwords meaningful. Nothing else
-- changes: the line matches only members of that (NOLOGIN) role. Idempotent; needs a superuser.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coffer_password_auth') THEN
    CREATE ROLE coffer_password_auth NOLOGIN;
  END IF;
END $$;

DO $$
DECLARE
  hba text := current_setting('hba_file');
  content text := pg_read_file(current_setting('hba_file'));
  lo oid;
BEGIN
  IF position('+coffer_password_auth' IN content) = 0 THEN
    lo := lo_from_bytea(0, convert_to(
      E'host all +coffer_password_auth 127.0.0.1/32 scram-sha-256\n'
      || E'host all +coffer_password_auth ::1/128 scram-sha-256\n' || content, 'UTF8'));
    PERFORM lo_export(lo, hba);
    PERFORM lo_unlink(lo);
  END IF;
  PERFORM pg_reload_conf();
END $$;
