"""ReportReads: an incident's alerts, rollbacks, silences and action items, and the
incidents and rollbacks since a date, as reports and stats read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from bot.core.rollback import RollbackStatus
from bot.storage.models import ActionItem, Incident, IncidentAlert, Rollback, Silence
from bot.storage.store_base import StoreBase


class ReportReads(StoreBase):
    async def incident_alert_rows(self, incident_id: int) -> Sequence[IncidentAlert]:
        query = (
            select(IncidentAlert)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(col(IncidentAlert.starts_at), col(IncidentAlert.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_rollbacks(self, incident_id: int) -> Sequence[Rollback]:
        query = (
            select(Rollback)
            .where(Rollback.incident_id == incident_id)
            .order_by(col(Rollback.created_at), col(Rollback.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_silences(self, incident_id: int) -> Sequence[Silence]:
        query = (
            select(Silence)
            .where(Silence.incident_id == incident_id)
            .order_by(col(Silence.starts_at), col(Silence.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_action_items(self, incident_id: int) -> Sequence[ActionItem]:
        query = (
            select(ActionItem)
            .where(ActionItem.incident_id == incident_id)
            .order_by(col(ActionItem.created_at), col(ActionItem.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incidents_started_since(self, since: datetime | None) -> Sequence[Incident]:
        query = select(Incident).order_by(col(Incident.id).desc())
        if since is not None:
            query = query.where(col(Incident.started_at) >= since)
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def completed_rollbacks_since(self, since: datetime | None) -> Sequence[Rollback]:
        """Completed rollbacks of incidents that started at or after `since`."""
        query = (
            select(Rollback)
            .join(Incident, col(Incident.id) == col(Rollback.incident_id))
            .where(Rollback.status == RollbackStatus.COMPLETED.value)
            .order_by(col(Rollback.id))
        )
        if since is not None:
            query = query.where(col(Incident.started_at) >= since)
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def rollbacks_with_status(self, status: str) -> Sequence[Rollback]:
        query = select(Rollback).where(Rollback.status == status).order_by(col(Rollback.id))
        async with self._sessions() as session:
            return (await session.exec(query)).all()
