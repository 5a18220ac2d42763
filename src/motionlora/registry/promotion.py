"""The promotion policy: which version of `motion-<concept>` holds which alias, and how that changes.

* `challenger` — the newest registered version (from a pipeline run that did not fail).
* `champion` — the version that serves. It moves only through `promote` (the gate must pass, or
  `force` with a reason) or `rollback`.
* `previous-champion` — the champion that the current champion replaced; `rollback` returns to it.

Every alias move happens under the model's `PromotionLock`, and the gate is evaluated *inside* the
lock against the champion of that moment, so two racing promotions are serialised and the second
one is judged against the first one's result. The writes of one operation are undone (aliases and
tags put back) if any of them fails, so a failure never leaves a half-moved alias set.

Consistency (checked by `consistency_problems`): the champion carries a promotion tag, the
`previous-champion` alias is exactly the version the champion replaced, and a champion promoted
through the gate was compared with that same version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from motionlora.registry.gate import Evidence, GateConfig, GateDecision, check_gate
from motionlora.registry.lock import PromotionLock
from motionlora.registry.names import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    PROMOTION_KINDS,
    TAG_GATE,
    TAG_GATE_COMPARED_TO,
    TAG_GATE_CONFIG,
    TAG_GATE_REASONS,
    TAG_CI_PREFIX,
    TAG_METRIC_PREFIX,
    TAG_PAIR_CONTEXT,
    TAG_PAIRS,
    TAG_PIPELINE_STATUS,
    TAG_PREVIOUS_CHALLENGER,
    TAG_PROMOTED_AT,
    TAG_PROMOTED_BY,
    TAG_PROMOTION,
    TAG_PROMOTION_REASON,
    TAG_REPLACED,
    TAG_ROLLED_BACK,
)
from motionlora.tracking.errors import unless_missing

FAILED = "FAILED"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AliasState:
    """Which version holds each alias (None: nobody)."""

    champion: str | None = None
    challenger: str | None = None
    previous_champion: str | None = None

    @classmethod
    def read(cls, client: Any, model: str) -> AliasState:
        aliases = {alias: str(version) for alias, version in client.get_registered_model(model).aliases.items()}
        return cls(aliases.get(CHAMPION), aliases.get(CHALLENGER), aliases.get(PREVIOUS_CHAMPION))

    def describe(self) -> str:
        return ", ".join(f"{name}=v{value}" if value else f"{name}=none" for name, value in
                         ((CHAMPION, self.champion), (PREVIOUS_CHAMPION, self.previous_champion), (CHALLENGER, self.challenger)))


# What a promote or rollback did; "promoted" and "forced" move the champion (names.PROMOTION_KINDS).
PromotionAction = Literal["promoted", "forced", "rejected", "unchanged", "rolled-back"]


@dataclass(frozen=True)
class PromotionResult:
    """What a promote or rollback did, and why."""

    model: str
    version: str
    action: PromotionAction
    before: AliasState
    after: AliasState
    decision: GateDecision | None = None
    reason: str | None = None

    @property
    def moved(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        """A short markdown report: the action, the aliases before and after, the gate's checks."""
        lines = [f"# {self.model} v{self.version}: {self.action}", "",
                 f"- before: {self.before.describe()}", f"- after: {self.after.describe()}"]
        if self.reason:
            lines.append(f"- reason: {self.reason}")
        if self.decision is not None:
            lines += ["", f"Gate {self.decision.verdict}:", *(f"- {r}" for r in self.decision.reasons)]
        return "\n".join(lines) + "\n"


def version_metrics(version: Any) -> dict[str, float]:
    """The evaluation means a registered version carries in its `motionlora.metric.*` tags."""
    metrics = {}
    for key, value in version.tags.items():
        if key.startswith(TAG_METRIC_PREFIX):
            try:
                metrics[key[len(TAG_METRIC_PREFIX):]] = float(value)
            except ValueError:
                continue
    return metrics


def version_evidence(version: Any) -> Evidence:
    """Everything the gate reads from a version's tags: means, 95% CIs and per-pair scores.

    Versions registered before a tag existed simply lack it; the gate then says what is missing.
    A tag that does not parse counts as missing.
    """
    import json

    ci95 = {}
    for key, value in version.tags.items():
        if key.startswith(TAG_CI_PREFIX):
            try:
                low, high, n = json.loads(value)
                ci95[key[len(TAG_CI_PREFIX):]] = (float(low), float(high), int(n))
            except (ValueError, TypeError):
                continue
    pairs = None
    raw = version.tags.get(TAG_PAIRS)
    if raw:
        try:
            pairs = {str(k): float(v) for k, v in json.loads(raw).items()}
        except (ValueError, TypeError, AttributeError):
            pairs = None
    return Evidence(means=version_metrics(version), ci95=ci95, pairs=pairs, pair_context=version.tags.get(TAG_PAIR_CONTEXT))


class _Undo:
    """Alias and tag writes that are put back, newest first, if the block raises."""

    def __init__(self, client: Any, model: str) -> None:
        self.client, self.model = client, model
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> _Undo:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            return
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception as err:  # keep undoing the rest; the original error is what matters
                exc.add_note(f"could not undo a registry write of {self.model}: {err}")

    def _restore_alias(self, alias: str, version: str | None) -> Callable[[], None]:
        if version is None:
            return lambda: self.client.delete_registered_model_alias(self.model, alias)
        return lambda: self.client.set_registered_model_alias(self.model, alias, version)

    def set_alias(self, state: AliasState, alias: str, version: str | None) -> None:
        """Point `alias` at `version` (None: remove it); `state` holds its value before."""
        old = {CHAMPION: state.champion, CHALLENGER: state.challenger, PREVIOUS_CHAMPION: state.previous_champion}[alias]
        if old == version:
            return
        self._undo.append(self._restore_alias(alias, old))
        if version is None:
            self.client.delete_registered_model_alias(self.model, alias)
        else:
            self.client.set_registered_model_alias(self.model, alias, version)

    def set_tags(self, version: str, tags: Mapping[str, str | None]) -> None:
        """Set (None: delete) tags of `version`, remembering the old values."""
        old = dict(self.client.get_model_version(self.model, version).tags)
        for key, value in tags.items():
            self._undo.append(self._restore_tag(version, key, old.get(key)))
            if value is None:
                if key in old:
                    self.client.delete_model_version_tag(self.model, version, key)
            else:
                self.client.set_model_version_tag(self.model, version, key, value)

    def _restore_tag(self, version: str, key: str, value: str | None) -> Callable[[], None]:
        def restore() -> None:
            if value is not None:
                self.client.set_model_version_tag(self.model, version, key, value)
                return
            unless_missing(self.client.delete_model_version_tag, self.model, version, key)
        return restore


def assess(client: Any, model: str, version: str, gate: GateConfig, champion: str | None) -> GateDecision:
    """Gate `version` against `champion` and record the decision in the version's tags."""
    candidate = client.get_model_version(model, version)
    reference = version_evidence(client.get_model_version(model, champion)) if champion else None
    decision = check_gate(version_evidence(candidate), reference, gate, champion)
    for key, value in {TAG_GATE: decision.verdict, TAG_GATE_REASONS: decision.describe(),
                       TAG_GATE_COMPARED_TO: champion or "none", TAG_GATE_CONFIG: gate.to_json()}.items():
        client.set_model_version_tag(model, version, key, value)
    return decision


def recorded_gate(client: Any, model: str, version: str) -> GateConfig | None:
    """The gate settings `version` was last assessed with (its pipeline's), so people apply the same rules."""
    raw = client.get_model_version(model, version).tags.get(TAG_GATE_CONFIG)
    if not raw:
        return None
    try:
        return GateConfig.from_json(raw)
    except ValueError:  # recorded by an older gate with other settings: the caller falls back to today's
        return None


def _check_candidate(client: Any, model: str, version: str, force: bool, pipeline_run: str | None) -> None:
    """A failed run's version never becomes champion; an unfinished run's only from that run itself or with `force`."""
    from motionlora.registry.repair import unfinished_run

    found = client.get_model_version(model, version)
    if found.tags.get(TAG_PIPELINE_STATUS) == FAILED:
        raise ValueError(f"{model} v{version} comes from a pipeline run that failed; it cannot become champion")
    unfinished = unfinished_run(client, found)
    if unfinished is not None and unfinished != pipeline_run and not force:
        raise ValueError(f"{model} v{version} comes from pipeline run {unfinished}, which has not finished (its MLflow run is "
                         "RUNNING): wait for it, close it out with `motionlora registry repair` if it was killed, or "
                         "promote with --force --reason")


def promote(
    client: Any,
    model: str,
    version: str,
    gate: GateConfig,
    actor: str,
    force: bool = False,
    reason: str | None = None,
    lock_timeout_s: float = 120.0,
    pipeline_run: str | None = None,
) -> PromotionResult:
    """Make `version` the champion if it passes the gate against the current champion (or `force`).

    A failing gate without `force` leaves every alias as it was and records why in the version's
    tags. `force` needs a `reason`, which is recorded with the actor. `pipeline_run` is the KFP run
    promoting (its own version may be promoted while the run is still RUNNING).
    """
    version = str(version)
    if force and not (reason and reason.strip()):
        raise ValueError("a forced promotion needs a reason (--reason): say why the gate is overridden")
    _check_candidate(client, model, version, force, pipeline_run)
    with PromotionLock(client, model, timeout_s=lock_timeout_s) as lock:
        before = AliasState.read(client, model)
        if before.champion == version:
            return PromotionResult(model, version, "unchanged", before, before, reason=reason)
        decision = assess(client, model, version, gate, before.champion)
        if not decision.passed and not force:
            return PromotionResult(model, version, "rejected", before, before, decision, reason)
        kind = "promoted" if decision.passed else "forced"
        lock.verify()
        with _Undo(client, model) as undo:
            undo.set_tags(version, {TAG_PROMOTION: kind, TAG_PROMOTED_BY: actor, TAG_PROMOTED_AT: _now(),
                                    TAG_PROMOTION_REASON: reason, TAG_REPLACED: before.champion})
            if before.champion is not None:
                undo.set_alias(before, PREVIOUS_CHAMPION, before.champion)
            undo.set_alias(before, CHAMPION, version)
            after = _verified(client, model, champion=version,
                              previous_champion=before.champion or before.previous_champion)
    return PromotionResult(model, version, kind, before, after, decision, reason)


def rollback(client: Any, model: str, actor: str, reason: str, lock_timeout_s: float = 120.0) -> PromotionResult:
    """Give `champion` back to `previous-champion`; the alias chain steps one promotion back."""
    if not reason.strip():
        raise ValueError("a rollback needs a reason (--reason)")
    with PromotionLock(client, model, timeout_s=lock_timeout_s) as lock:
        before = AliasState.read(client, model)
        if before.champion is None or before.previous_champion is None:
            raise ValueError(f"{model} has no {'champion' if before.champion is None else 'previous-champion'}: nothing to roll back to")
        target = before.previous_champion
        older = client.get_model_version(model, target).tags.get(TAG_REPLACED) or None
        if older in (before.champion, target) or (older is not None and not _exists(client, model, older)):
            older = None
        lock.verify()
        with _Undo(client, model) as undo:
            undo.set_tags(before.champion, {TAG_ROLLED_BACK: f"{_now()} by {actor}: {reason}"})
            undo.set_alias(before, CHAMPION, target)
            undo.set_alias(before, PREVIOUS_CHAMPION, older)
            after = _verified(client, model, champion=target, previous_champion=older)
    return PromotionResult(model, target, "rolled-back", before, after, reason=reason)


def set_challenger(client: Any, model: str, version: str, lock_timeout_s: float = 120.0) -> AliasState:
    """Point `challenger` at a newly registered `version`, remembering the one it replaces."""
    version = str(version)
    with PromotionLock(client, model, timeout_s=lock_timeout_s) as lock:
        before = AliasState.read(client, model)
        lock.verify()
        with _Undo(client, model) as undo:
            undo.set_tags(version, {TAG_PREVIOUS_CHALLENGER: before.challenger})
            undo.set_alias(before, CHALLENGER, version)
        return AliasState.read(client, model)


def withdraw(client: Any, model: str, version: str, lock_timeout_s: float = 120.0) -> AliasState:
    """Undo a failed pipeline run's registration: mark `version` FAILED and give `challenger` back.

    The version itself stays (it is the record of what the run produced); `challenger` returns to
    the version it replaced, unless that one failed too.
    """
    version = str(version)
    with PromotionLock(client, model, timeout_s=lock_timeout_s) as lock:
        before = AliasState.read(client, model)
        previous = client.get_model_version(model, version).tags.get(TAG_PREVIOUS_CHALLENGER)
        if previous is not None and (not _exists(client, model, previous) or
                                     client.get_model_version(model, previous).tags.get(TAG_PIPELINE_STATUS) == FAILED):
            previous = None
        lock.verify()
        with _Undo(client, model) as undo:
            undo.set_tags(version, {TAG_PIPELINE_STATUS: FAILED})
            if before.challenger == version:
                undo.set_alias(before, CHALLENGER, previous)
        return AliasState.read(client, model)


def _exists(client: Any, model: str, version: str) -> bool:
    return unless_missing(client.get_model_version, model, version) is not None


def _verified(client: Any, model: str, champion: str | None, previous_champion: str | None) -> AliasState:
    """Re-read the aliases and fail (so the caller undoes its writes) unless they are as written."""
    after = AliasState.read(client, model)
    if (after.champion, after.previous_champion) != (champion, previous_champion):
        raise RuntimeError(f"{model}: aliases changed under the promotion lock (expected champion=v{champion}, "
                           f"previous-champion=v{previous_champion}; found {after.describe()}); was one edited by hand?")
    return after


def consistency_problems(client: Any, model: str) -> list[str]:
    """Why the alias set of `model` is inconsistent; empty when it is fine.

    Consistent means: the champion was promoted by motionlora; `previous-champion` is exactly the
    version the champion replaced; and every version ever promoted is either on the champion's
    history (champion, the one it replaced, the one that one replaced, ...) or was rolled back —
    a promotion lost to a race would be on neither.
    """
    state = AliasState.read(client, model)
    problems = []
    if state.previous_champion is not None and state.previous_champion == state.champion:
        problems.append(f"champion and previous-champion are both v{state.champion}")
    versions = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name='{model}'")}
    history: list[str] = []
    current = state.champion
    while current is not None and current not in history and current in versions:
        history.append(current)
        current = versions[current].get(TAG_REPLACED) or None
    if state.champion is not None:
        tags = versions.get(state.champion, {})
        replaced = tags.get(TAG_REPLACED) or None
        if tags.get(TAG_PROMOTION) not in PROMOTION_KINDS:
            problems.append(f"champion v{state.champion} was not promoted by motionlora (no {TAG_PROMOTION} tag)")
        if state.previous_champion != replaced:
            problems.append(f"previous-champion is v{state.previous_champion} but champion v{state.champion} replaced v{replaced}")
    for version, tags in sorted(versions.items(), key=lambda item: int(item[0])):
        if tags.get(TAG_PROMOTION) in PROMOTION_KINDS and version not in history and TAG_ROLLED_BACK not in tags:
            problems.append(f"v{version} was promoted ({tags.get(TAG_PROMOTED_AT)}) but is neither in the champion's "
                            "history nor rolled back: a promotion was lost")
    return problems
