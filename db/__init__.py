"""The SQL store: typed models, sessions, migrations."""
