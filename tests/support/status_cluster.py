"""The cluster the /status tests look at: payment-service in production, two revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from standins.fake_kubernetes import FakeKubernetes

NS, DEPLOYMENT = "production", "payment-service"


def seed_cluster(kube: FakeKubernetes) -> None:
    now = datetime.now(UTC)
    kube.add_deployment(
        NS, DEPLOYMENT, image="registry/payments:v2.3.0", created_at=now - timedelta(days=3)
    )
    kube.roll_out(NS, DEPLOYMENT, image="registry/payments:v2.3.1", at=now - timedelta(minutes=20))
    pod = kube.pods(NS, DEPLOYMENT)[0]["metadata"]["name"]
    kube.add_pod_status(
        NS,
        pod,
        ready=False,
        restarts=4,
        reason="CrashLoopBackOff",
        last_terminated_at=now - timedelta(minutes=2),
    )
    kube.add_event(
        NS,
        involved_kind="Pod",
        involved_name=pod,
        reason="BackOff",
        message="Back-off restarting failed container",
    )
    for p in kube.pods(NS, DEPLOYMENT):
        kube.set_pod_log(
            NS,
            p["metadata"]["name"],
            "INFO started\nERROR pool exhausted: timeout 3s password=hunter2\n",
        )
