"""Stand-ins for the demo and the tests: fakes of Slack, Kubernetes and Prometheus over real HTTP.

Not part of the production image (see .dockerignore); `pip install .` from a clone includes it so
`incident-bot demo` works.
"""
