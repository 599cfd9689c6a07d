"""The Slack side: the Bolt app, its listeners per family, Socket Mode, the scopes."""
