"""Repair issues: what the user must act on, raised from each refresh and removed when solved.

Which issues an account has is a pure function of its fleet (the provider's notices and
broken car links), of whether its request quota is exhausted and of whether the provider
refused a permission (403) since the last good refresh; ``IssueTracker`` makes
Home Assistant's issue registry match that, and removes everything when the entry unloads.
Issues are not persistent: after a restart the first refresh raises them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .api import Fleet, ProviderForbiddenError, ProviderNotice
from .api.base import CAR_DISABLED, CAR_LINK_BROKEN
from .const import DOMAIN, LOGGER

RATE_LIMIT_EXHAUSTED = "rate_limit_exhausted"
PERMISSION_DENIED = "permission_denied"
GENERIC_NOTICE = "provider_notice"
"""Translation of a notice code we do not know (the provider's own text is shown)."""

KNOWN_NOTICES = frozenset(
    {
        CAR_LINK_BROKEN,
        CAR_DISABLED,
        "invalid_credentials",
        "car_not_found",
        "car_not_reachable",
        "reconnect_utility_contract",
        "invalid_utility_contract",
        "session_impossible",
        "received_no_power",
        "geo_location_disabled",
    }
)
"""Notice codes with their own translated title and description."""


@dataclass(frozen=True, kw_only=True)
class RepairIssue:
    """One issue as the registry should hold it."""

    issue_id: str
    translation_key: str
    placeholders: Mapping[str, str]


def notice_issue(
    notice: ProviderNotice,
    *,
    provider: str,
    account: str,
    entry_id: str,
    vehicle_names: Mapping[str, str],
) -> RepairIssue:
    """Return the issue for one notice: one per (code, vehicle).

    ``{vehicle}`` names the car, or the account (the entry's title) when the notice is
    about no car in particular. Unknown codes get the generic text with the provider's
    own message.
    """
    vehicle_id = notice.vehicle_id
    known = notice.code in KNOWN_NOTICES
    placeholders = {
        "provider": provider,
        "vehicle": (
            vehicle_names.get(vehicle_id, vehicle_id)
            if vehicle_id is not None
            else account
        ),
    }
    if not known:
        placeholders["message"] = notice.message or notice.code
    return RepairIssue(
        issue_id=f"{notice.code}_{vehicle_id if vehicle_id is not None else entry_id}",
        translation_key=notice.code if known else GENERIC_NOTICE,
        placeholders=placeholders,
    )


def fleet_issues(
    fleet: Fleet, *, provider: str, account: str, entry_id: str
) -> dict[str, RepairIssue]:
    """Return the issues a fleet calls for, by issue id.

    Every notice the provider sent, and a broken car link for each vehicle marked so even
    where a fleet carries no notice for it (a fleet not built by the client template).
    """
    names = {
        vehicle_id: snapshot.vehicle.name
        for vehicle_id, snapshot in fleet.vehicles.items()
    }
    notices = [
        *fleet.notices,
        *(
            ProviderNotice(code=CAR_LINK_BROKEN, vehicle_id=vehicle_id)
            for vehicle_id, snapshot in fleet.vehicles.items()
            if snapshot.vehicle.link_broken
        ),
    ]
    issues: dict[str, RepairIssue] = {}
    for notice in notices:
        issue = notice_issue(
            notice,
            provider=provider,
            account=account,
            entry_id=entry_id,
            vehicle_names=names,
        )
        issues.setdefault(issue.issue_id, issue)
    return issues


def quota_issue(*, provider: str, entry_id: str) -> RepairIssue:
    """Return the issue for an exhausted request quota (one per entry)."""
    return RepairIssue(
        issue_id=f"{RATE_LIMIT_EXHAUSTED}_{entry_id}",
        translation_key=RATE_LIMIT_EXHAUSTED,
        placeholders={"provider": provider},
    )


def permission_issue(
    err: ProviderForbiddenError, *, provider: str, account: str, entry_id: str
) -> RepairIssue:
    """Return the issue for a refused permission (one per entry), naming what is refused."""
    return RepairIssue(
        issue_id=f"{PERMISSION_DENIED}_{entry_id}",
        translation_key=PERMISSION_DENIED,
        placeholders={
            "provider": provider,
            "account": account,
            "detail": err.detail or err.message,
        },
    )


class IssueTracker:
    """Keeps one entry's repair issues in Home Assistant's registry equal to a wanted set."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no issues raised."""
        self._hass = hass
        self._raised: dict[str, RepairIssue] = {}

    def sync(self, wanted: Mapping[str, RepairIssue]) -> None:
        """Create what is new or changed, delete what is solved."""
        for issue_id in self._raised.keys() - wanted.keys():
            LOGGER.debug("Repair issue solved: %s", issue_id)
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            del self._raised[issue_id]
        for issue_id, issue in wanted.items():
            if self._raised.get(issue_id) == issue:
                continue
            LOGGER.debug("Repair issue raised: %s", issue_id)
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=issue.translation_key,
                translation_placeholders=dict(issue.placeholders),
            )
            self._raised[issue_id] = issue

    def clear(self) -> None:
        """Delete every issue of the entry (it unloads: nothing watches them any more)."""
        self.sync({})


class AccountIssues:
    """One entry's repair issues: its fleet's, its quota's and a refused permission's.

    The fleet's are those of the last good refresh; a refused permission (403) lasts
    until the next good refresh.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, provider: str) -> None:
        """Start with no issues raised."""
        self._tracker = IssueTracker(hass)
        self._entry = entry
        self._provider = provider
        self._fleet: dict[str, RepairIssue] = {}
        self._permission: RepairIssue | None = None

    def sync(
        self,
        fleet: Fleet | None,
        *,
        quota_exhausted: bool,
        forbidden: ProviderForbiddenError | None = None,
    ) -> None:
        """Raise what the fleet (None: the last good one), the quota and a 403 call for.

        A refused permission (``forbidden``) stays raised until a good refresh (a fleet).
        """
        entry_id = self._entry.entry_id
        if fleet is not None:
            self._permission = None
            self._fleet = fleet_issues(
                fleet,
                provider=self._provider,
                account=self._entry.title,
                entry_id=entry_id,
            )
        if forbidden is not None:
            self._permission = permission_issue(
                forbidden,
                provider=self._provider,
                account=self._entry.title,
                entry_id=entry_id,
            )
        wanted = dict(self._fleet)
        if self._permission is not None:
            wanted[self._permission.issue_id] = self._permission
        if quota_exhausted:
            issue = quota_issue(provider=self._provider, entry_id=entry_id)
            wanted[issue.issue_id] = issue
        self._tracker.sync(wanted)

    def clear(self) -> None:
        """Withdraw every issue of the entry (it unloads: nothing watches them any more)."""
        self._tracker.clear()
