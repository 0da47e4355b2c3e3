"""The only code in airtrack that speaks SQL (see :mod:`airtrack.db.database`)."""

from __future__ import annotations

from airtrack.settings import Settings

from .database import Database, Tx
from .embedded import ensure_server
from .migrations import migrate
from .params import Row

__all__ = ["Database", "Row", "Tx", "connect", "database_url", "ensure_server", "migrate"]


def database_url(settings: Settings) -> str:
    """The external URL when set, else the embedded server's (started or attached)."""
    if settings.database_url:
        return settings.database_url
    return ensure_server(settings.home)


async def connect(
    settings: Settings,
    *,
    run_migrations: bool = True,
    min_size: int | None = None,
    max_size: int | None = None,
    app_name: str = "airtrack",
) -> Database:
    """Open a :class:`Database` for ``settings`` and bring its schema up to date."""
    db = Database(
        database_url(settings), settings, min_size=min_size, max_size=max_size, app_name=app_name
    )
    await db.open()
    if run_migrations:
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
    return db
