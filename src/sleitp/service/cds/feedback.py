"""CDS Hooks feedback [CDSHOOKS2]: what clinicians did with sleitp's cards, kept without patient data.

* ``POST /cds-services/{id}/feedback`` — the EHR reports that a card was ``accepted`` (with the uuids of
  the suggestions taken) or ``overridden`` (optionally with a reason Coding and a free-text comment).
  Same JWT authentication and size limit as the hook calls; the JWT's ``aud`` is the feedback endpoint's
  URL (the service's own URL is accepted too). Answer: 200 with ``{}``.
* ``GET /api/v1/feedback/summary`` — counts of outcomes per service, card kind and option, with the
  override reasons given (``/api/*`` token when tokens are configured).

What is kept, per feedback entry: the card uuid, the service id, the card's kind and option (remembered
by uuid when this process issued the card, else ``unknown``), the outcome, the accepted suggestion
uuids, the override reason's system and code, whether a comment was given, the outcome timestamp and the
time received. Not kept: the comment text (free text may name the patient) unless the setting
``feedback_keep_comments`` says so, the reason's display text, any other member. Card and suggestion
ids must be UUIDs — sleitp issues only UUIDs — so no free text reaches the store through them.

Storage: in memory (the counts) and, when ``feedback_file`` is set, one JSON line per entry appended to
that file (created 0600; a lock per process and ``flock`` across worker processes). At start-up the
counts are rebuilt from the file, so they survive a restart. With several workers each process counts
the entries it received since start-up on top of the file; the file holds them all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from sleitp.errors import SettingsError
from sleitp.service.cds.catalog import ServiceId, service_named
from sleitp.service.cds.override_reasons import OVERRIDE_REASON_SYSTEM, OVERRIDE_REASONS
from sleitp.service.json_body import (
    PROBLEM_RESPONSES,
    decode_json,
    problem_answers,
    request_body,
    require_json,
    validated,
)
from sleitp.service.problems import Problem

try:  # POSIX: several worker processes append to one file
    import fcntl
except ImportError:  # pragma: no cover - Windows: the per-process lock only
    fcntl = None  # type: ignore[assignment]

__all__ = ["FeedbackLog", "FeedbackRequest", "FeedbackSummary", "IssuedCards", "feedback_router"]

log = logging.getLogger("sleitp.service")

ISSUED_CARDS_CAPACITY = 50_000  # uuid -> kind of the most recent cards (a few MB at most)
MAX_FEEDBACK_ENTRIES = 1000  # entries in one request
MAX_FOREIGN_REASONS = 50  # distinct reason codes of other systems counted before they are pooled
OTHER = "(other)"
UNKNOWN = "unknown"

_UUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_Uuid = Annotated[str, Field(pattern=_UUID, description="a uuid sleitp issued (card.uuid / suggestion.uuid)")]


# -- the request [CDSHOOKS2] "Feedback" ------------------------------------------------------------------
class Coding(BaseModel):
    """[CDSHOOKS2] Coding: ``code`` and ``system`` required, ``display`` optional."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(min_length=1, max_length=128)
    system: str = Field(min_length=1, max_length=256)
    display: str | None = None


class OverrideReason(BaseModel):
    """The reason chosen (``reason``) and/or a free-text ``userComment``."""

    model_config = ConfigDict(extra="allow")
    reason: Coding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _something(self) -> OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("give reason (a Coding) or userComment")
        return self


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: _Uuid


class Feedback(BaseModel):
    """One card's outcome."""

    model_config = ConfigDict(extra="allow")
    card: _Uuid
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=100)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(json_schema_extra={"format": "date-time"},
                                  description="RFC 3339 date-time with its zone, e.g. 2020-12-11T00:00:00Z")

    @field_validator("outcomeTimestamp")
    @classmethod
    def _timestamp(cls, v: str) -> str:
        try:
            when = dt.datetime.fromisoformat(v)
            if when.tzinfo is None or when.utcoffset() is None:
                raise ValueError
            return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        except (ValueError, OverflowError):
            raise ValueError("expected an ISO 8601 date-time with its zone, e.g. 2020-12-11T00:00:00Z"
                             ) from None

    @model_validator(mode="after")
    def _consistent(self) -> Feedback:
        if self.outcome == "accepted":
            if not self.acceptedSuggestions:
                raise ValueError("acceptedSuggestions: required (at least one) for outcome 'accepted'")
            if self.overrideReason is not None:
                raise ValueError("overrideReason: only for outcome 'overridden'")
        elif self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions: only for outcome 'accepted'")
        return self


class FeedbackRequest(BaseModel):
    """The body of ``POST /cds-services/{id}/feedback``; unknown members (``extension``) are ignored."""

    model_config = ConfigDict(extra="allow")
    feedback: list[Feedback] = Field(max_length=MAX_FEEDBACK_ENTRIES)


# -- the summary ----------------------------------------------------------------------------------------
class ReasonCount(BaseModel):
    system: str
    code: str
    display: str | None = None
    count: int


class CardCounts(BaseModel):
    service: str
    kind: str
    option: str | None = None
    accepted: int
    overridden: int
    comments: int = Field(description="overrides that came with a comment (its text is not kept)")
    override_reasons: list[ReasonCount]


class FeedbackSummary(BaseModel):
    counting_since: str
    stored_in_file: bool
    outcomes: dict[str, int]
    cards: list[CardCounts]
    top_override_reasons: list[ReasonCount]


# -- which card was which -------------------------------------------------------------------------------
class IssuedCards:
    """uuid -> (kind, option) of the cards this process issued, most recent :data:`ISSUED_CARDS_CAPACITY`.

    Holds no patient data: a random uuid, a card kind and an agent name."""

    def __init__(self, capacity: int = ISSUED_CARDS_CAPACITY) -> None:
        self.capacity = capacity
        self._cards: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, card_uuid: str, kind: str, option: str | None) -> None:
        with self._lock:
            self._cards[card_uuid] = (kind, option)
            while len(self._cards) > self.capacity:
                self._cards.popitem(last=False)

    def get(self, card_uuid: str) -> tuple[str, str | None]:
        with self._lock:
            return self._cards.get(card_uuid.lower(), (UNKNOWN, None))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class FeedbackLog:
    """Stores feedback entries (JSON Lines file, optional) and counts them (memory)."""

    def __init__(self, path: Path | None, *, keep_comments: bool = False, issued: IssuedCards | None = None
                 ) -> None:
        self.path = path
        self.keep_comments = keep_comments
        self.issued = issued or IssuedCards()
        self.since = _now()
        self._lock = threading.Lock()
        self._outcomes: Counter[tuple[str, str, str | None, str]] = Counter()
        self._comments: Counter[tuple[str, str, str | None]] = Counter()
        self._reasons: dict[tuple[str, str, str | None], Counter[tuple[str, str]]] = {}
        self._foreign: set[tuple[str, str]] = set()
        if path is not None:
            self._open_file()
            self._load()

    # storage
    def _open_file(self) -> None:
        assert self.path is not None
        try:
            self._append_raw(b"")  # creates the file (0600) or proves it can be appended to
            with self.path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size:
                    f.seek(size - 1)
                torn = size > 0 and f.read(1) != b"\n"
            if torn:  # a line cut short by a crash: ended, so that it does not swallow the next entry
                self._append_raw(b"\n")
        except OSError as e:
            raise SettingsError(f"feedback_file: cannot open {self.path} for appending ({e.strerror})"
                                ) from None

    def _load(self) -> None:
        assert self.path is not None
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    self._count(entry)
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue  # a torn or edited line: skipped, not fatal
                received = entry.get("received_at")
                if isinstance(received, str) and received < self.since:
                    self.since = received

    def _append_raw(self, data: bytes) -> None:
        """Append ``data`` under an exclusive ``flock`` (other worker processes wait)."""
        assert self.path is not None
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # closing releases the flock

    def _append(self, entries: list[dict[str, Any]]) -> None:
        self._append_raw("".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n"
                                 for e in entries).encode("utf-8"))

    # counting
    def _reason_key(self, system: str, code: str) -> tuple[str, str]:
        if system == OVERRIDE_REASON_SYSTEM or (system, code) in self._foreign:
            return system, code
        if len(self._foreign) < MAX_FOREIGN_REASONS:
            self._foreign.add((system, code))
            return system, code
        return OTHER, OTHER

    def _count(self, entry: dict[str, Any]) -> None:
        outcome = entry["outcome"]
        if outcome not in ("accepted", "overridden"):
            raise ValueError(outcome)
        group = (str(entry["service"]), str(entry.get("card_kind") or UNKNOWN), entry.get("option"))
        self._outcomes[(*group, outcome)] += 1
        if entry.get("comment_given"):
            self._comments[group] += 1
        reason = entry.get("override_reason")
        if reason:
            key = self._reason_key(str(reason["system"]), str(reason["code"]))
            self._reasons.setdefault(group, Counter())[key] += 1

    def record(self, service_id: str, request: FeedbackRequest) -> list[dict[str, Any]]:
        """Store and count the entries of one request; the stored entries are returned."""
        received = _now()
        entries = []
        for fb in request.feedback:
            kind, option = self.issued.get(fb.card)
            reason = fb.overrideReason.reason if fb.overrideReason else None
            comment = fb.overrideReason.userComment if fb.overrideReason else None
            entry: dict[str, Any] = {
                "received_at": received, "service": service_id, "card": fb.card.lower(), "card_kind": kind,
                "option": option, "outcome": fb.outcome,
                "accepted_suggestions": [s.id.lower() for s in fb.acceptedSuggestions or []],
                "override_reason": {"system": reason.system, "code": reason.code} if reason else None,
                "comment_given": bool(comment and comment.strip()),
                "outcome_timestamp": fb.outcomeTimestamp,
            }
            if self.keep_comments and entry["comment_given"]:
                entry["comment"] = comment
            entries.append(entry)
        with self._lock:
            if self.path is not None and entries:
                self._append(entries)
            for entry in entries:
                self._count(entry)
        return entries

    def summary(self) -> dict[str, Any]:
        with self._lock:
            outcomes = Counter[str]()
            groups: dict[tuple[str, str, str | None], dict[str, int]] = {}
            for (service, kind, option, outcome), n in self._outcomes.items():
                outcomes[outcome] += n
                groups.setdefault((service, kind, option), Counter())[outcome] += n
            overall: Counter[tuple[str, str]] = Counter()
            for counter in self._reasons.values():
                overall.update(counter)
            cards = [{"service": g[0], "kind": g[1], "option": g[2], "accepted": c.get("accepted", 0),
                      "overridden": c.get("overridden", 0), "comments": self._comments.get(g, 0),
                      "override_reasons": _reason_list(self._reasons.get(g, Counter()))}
                     for g, c in groups.items()]
        cards.sort(key=lambda c: (-(c["accepted"] + c["overridden"]), c["service"], c["kind"],
                                  c["option"] or ""))
        return {"counting_since": self.since, "stored_in_file": self.path is not None,
                "outcomes": {"accepted": outcomes["accepted"], "overridden": outcomes["overridden"]},
                "cards": cards, "top_override_reasons": _reason_list(overall, 10)}


def _reason_list(counter: Counter[tuple[str, str]], top: int | None = None) -> list[dict[str, Any]]:
    out = []
    for (system, code), n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        item: dict[str, Any] = {"system": system, "code": code, "count": n}
        if system == OVERRIDE_REASON_SYSTEM and code in OVERRIDE_REASONS:
            item["display"] = OVERRIDE_REASONS[code]
        out.append(item)
    return out


# -- the endpoints --------------------------------------------------------------------------------------
def parse_feedback(data: Any) -> FeedbackRequest:
    return validated(FeedbackRequest, data, expected='a CDS Hooks feedback object {"feedback": [...]}',
                     what="a CDS Hooks feedback request")


def feedback_router() -> APIRouter:
    router = APIRouter()
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Recorded", "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False}}}}}
    responses.update(problem_answers(
        (400, "Malformed request"), (401, "Missing or invalid EHR JWT"), (404, "No such service"),
        (413, "Body over the limit"), (415, "Body is not JSON"),
        (422, "Not a feedback request (errors name the fields)"), (503, "Feedback could not be stored")))

    @router.post("/cds-services/{service_id}/feedback", tags=["cds-hooks"], responses=responses,
                 openapi_extra=request_body("CdsFeedbackRequest"),
                 summary="CDS Hooks feedback: a card accepted or overridden (EHR JWT in Authorization)")
    async def feedback(service_id: ServiceId,
                       request: Request,
                       authorization: Annotated[str | None, Header(include_in_schema=False)] = None
                       ) -> JSONResponse:
        ctx = request.app.state.ctx
        service_named(service_id)
        if not ctx.settings.cds_allow_unauthenticated:
            await ctx.cds_jwt.verify(authorization, service_id, feedback=True)
        require_json(request)  # authenticated first, then the body is read
        body = parse_feedback(decode_json(await request.body()))
        try:
            await run_in_threadpool(ctx.feedback.record, service_id, body)
        except OSError as exc:
            log.error("feedback not stored request_id=%s type=%s", getattr(request.state, "request_id", "-"),
                      type(exc).__name__)
            raise Problem(503, "the feedback could not be stored; send it again later") from None
        return JSONResponse({})

    @router.get("/api/v1/feedback/summary", tags=["api"], response_model=FeedbackSummary,
                responses={401: PROBLEM_RESPONSES[401]},
                summary="Counts of CDS Hooks feedback: accepted vs overridden per card kind and option")
    async def summary(request: Request, authorization: Annotated[str | None, Header(
            alias="Authorization", include_in_schema=False)] = None) -> dict[str, Any]:
        ctx = request.app.state.ctx
        ctx.api_tokens(authorization)
        return ctx.feedback.summary()

    return router
