"""The work behind each feature: incidents, rollback, status, silences, reports."""
