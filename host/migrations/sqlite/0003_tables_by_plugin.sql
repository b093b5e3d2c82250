-- The answer tables of a component are looked up by its digest whenever a
-- county's serving state is rebuilt (after every approval, suspension,
-- rollback or re-proof); without an index each lookup reads every table
-- row.
CREATE INDEX answer_tables_plugin ON answer_tables (plugin_digest);
