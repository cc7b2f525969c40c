"""The embedded local FaaS platform: gateway, pre-forked workers, SQLite state."""
