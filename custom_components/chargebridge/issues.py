"""Repair issues: what the user must act on, raised from each refresh and removed when solved.

Which issues an account has is a pure function of its fleet (the provider's notices and
broken car links), of whether its request quota is exhausted and of whether the provider
refused a permission (403) since the last good refresh; ``IssueTracker`` makes
Home Assistant's issue registry match that, and removes everything when the entry unloads.
Issues are not persistent: after a restart the first refresh raises them again.

An issue from a provider's message is fixable where the client can dismiss it
(``Provider.dismisses_notices``): the fix flow (repairs.py) dismisses the messages at the
provider, and the issue is withdrawn at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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

DISMISSABLE_TRANSLATIONS = (KNOWN_NOTICES - {CAR_LINK_BROKEN, CAR_DISABLED}) | {
    GENERIC_NOTICE
}
"""Issues that can come from a provider's message: their texts include the fix flow's.

A broken or disabled car is a state of the car, which no dismissed message would end.
"""
FIX_ENTRY_ID = "entry_id"
"""Key of the config entry's id in a fixable issue's data (the fix flow finds it there)."""


@dataclass(frozen=True, kw_only=True)
class RepairIssue:
    """One issue as the registry should hold it."""

    issue_id: str
    translation_key: str
    placeholders: Mapping[str, str]
    dismiss: ProviderNotice | None = None
    """The notice the fix flow dismisses at the provider; None: the issue is not fixable."""

    @property
    def is_fixable(self) -> bool:
        """Whether the user can resolve the issue from Home Assistant (the fix flow)."""
        return self.dismiss is not None


def notice_issue(
    notice: ProviderNotice,
    *,
    provider: str,
    account: str,
    entry_id: str,
    vehicle_names: Mapping[str, str],
    can_dismiss: bool = False,
) -> RepairIssue:
    """Return the issue for one notice: one per (code, vehicle).

    ``{vehicle}`` names the car, or the account (the entry's title) when the notice is
    about no car in particular. Unknown codes get the generic text with the provider's
    own message. With ``can_dismiss`` (the client dismisses notices), a notice that is a
    provider's message with an id makes a fixable issue.
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
    translation_key = notice.code if known else GENERIC_NOTICE
    fixable = (
        can_dismiss
        and bool(notice.message_ids)
        and translation_key in DISMISSABLE_TRANSLATIONS
    )
    return RepairIssue(
        issue_id=f"{notice.code}_{vehicle_id if vehicle_id is not None else entry_id}",
        translation_key=translation_key,
        placeholders=placeholders,
        dismiss=notice if fixable else None,
    )


def _same_issue(first: RepairIssue, second: RepairIssue) -> RepairIssue:
    """Join two notices that make the same issue: fixable only if dismissing ends both."""
    if first.dismiss is None or second.dismiss is None:
        return replace(first, dismiss=None)
    ids = first.dismiss.message_ids
    ids += tuple(i for i in second.dismiss.message_ids if i not in ids)
    return replace(first, dismiss=replace(first.dismiss, message_ids=ids))


def fleet_issues(
    fleet: Fleet,
    *,
    provider: str,
    account: str,
    entry_id: str,
    can_dismiss: bool = False,
) -> dict[str, RepairIssue]:
    """Return the issues a fleet calls for, by issue id.

    Every notice the provider sent, and a broken car link for each vehicle marked so even
    where a fleet carries no notice for it (a fleet not built by the client template).
    Notices that make the same issue make one (see ``_same_issue``).
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
            can_dismiss=can_dismiss,
        )
        first = issues.get(issue.issue_id)
        issues[issue.issue_id] = issue if first is None else _same_issue(first, issue)
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

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Start with no issues raised."""
        self._hass = hass
        self._entry_id = entry_id
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
                data={FIX_ENTRY_ID: self._entry_id} if issue.is_fixable else None,
                is_fixable=issue.is_fixable,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=issue.translation_key,
                translation_placeholders=dict(issue.placeholders),
            )
            self._raised[issue_id] = issue

    def withdraw(self, issue_id: str) -> None:
        """Delete one issue now (the user resolved it); a later sync may raise it again."""
        if self._raised.pop(issue_id, None) is not None:
            LOGGER.debug("Repair issue resolved by the user: %s", issue_id)
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)

    def clear(self) -> None:
        """Delete every issue of the entry (it unloads: nothing watches them any more)."""
        self.sync({})


class AccountIssues:
    """One entry's repair issues: its fleet's, its quota's and a refused permission's.

    The fleet's are those of the last good refresh; a refused permission (403) lasts
    until the next good refresh.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        provider: str,
        *,
        can_dismiss: bool = False,
    ) -> None:
        """Start with no issues raised; ``can_dismiss``: the client dismisses notices."""
        self._tracker = IssueTracker(hass, entry.entry_id)
        self._entry = entry
        self._provider = provider
        self._can_dismiss = can_dismiss
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
                can_dismiss=self._can_dismiss,
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

    def dismissable(self, issue_id: str) -> ProviderNotice | None:
        """Return the notice behind a raised fixable issue; None when there is none (now)."""
        issue = self._fleet.get(issue_id)
        return None if issue is None else issue.dismiss

    def withdraw(self, issue_id: str) -> None:
        """Remove an issue the user resolved (its notice is dismissed at the provider).

        It stays away through failed refreshes; a good one raises it again only if the
        provider reports the problem again.
        """
        self._fleet.pop(issue_id, None)
        self._tracker.withdraw(issue_id)

    def clear(self) -> None:
        """Withdraw every issue of the entry (it unloads: nothing watches them any more)."""
        self._tracker.clear()
