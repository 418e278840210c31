-- Migration 6: logins are unique without regard to case (`Alice` beside
-- `alice` is refused by the database itself, not only by `zoo-registry user
-- add`). A database that already holds such a pair is refused before this
-- runs, naming them (`no_case_twins` in src/db/sql/migrations.rs).
CREATE UNIQUE INDEX IF NOT EXISTS users_login_lower ON users (lower(login));
