"""The page table: which screen the app shows to which role, with its script, title, icon and menu section.

``PAGES`` is the one table the app builds its menu from *and* every page checks on each run, so a
page hidden from the menu is refused as well when it is reached by URL or ``st.switch_page``. The role
groups come from ``core.store.users`` (defined there once).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.users import RATER_ROLES, READER_ROLES, ROLES, STAFF_ROLES



@dataclass(frozen=True)
class PageSpec:
    """One screen: its key, script, menu title and icon, the roles that may open it and its menu section."""

    key: str
    path: str
    title: str
    icon: str
    roles: tuple[str, ...]
    section: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "views/overview.py", "Overview", ":material/home:", ROLES, "Studio"),
    PageSpec("rate", "views/rate.py", "Rate", ":material/grade:", RATER_ROLES, "Rating"),
    PageSpec("compare", "views/compare.py", "Compare", ":material/compare:", RATER_ROLES, "Rating"),
    PageSpec("my_labels", "views/my_labels.py", "My labels", ":material/history:", RATER_ROLES, "Rating"),
    PageSpec("dashboard", "views/dashboard.py", "Dashboard", ":material/monitoring:", READER_ROLES, "Results"),
    PageSpec("failures", "views/failures.py", "Failures", ":material/troubleshoot:", STAFF_ROLES, "Results"),
    PageSpec("adjudicate", "views/adjudicate.py", "Adjudicate", ":material/gavel:", STAFF_ROLES, "Results"),
    PageSpec("rater_quality", "views/rater_quality.py", "Rater quality", ":material/speed:", STAFF_ROLES, "Results"),
    PageSpec("data", "views/data.py", "Data and campaigns", ":material/database:", STAFF_ROLES, "Admin"),
    PageSpec("models", "views/models.py", "Models and jobs", ":material/model_training:", STAFF_ROLES, "Admin"),
    PageSpec("users", "views/users.py", "Users", ":material/group:", ("admin",), "Admin"),
    PageSpec("account", "views/account.py", "Account", ":material/person:", ROLES, "Studio"),
)
_BY_KEY = {p.key: p for p in PAGES}
# The page a role lands on after signing in.
HOME = {"rater": "rate", "viewer": "dashboard", "researcher": "overview", "admin": "overview"}


def page(key: str) -> PageSpec:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown page {key!r}; pages: {', '.join(_BY_KEY)}") from None


def allowed(role: str | None, key: str) -> bool:
    """Whether ``role`` may open page ``key`` (unknown roles may open nothing)."""
    return role in ROLES and role in page(key).roles


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]


def home(role: str) -> str:
    return HOME.get(role, "overview")
