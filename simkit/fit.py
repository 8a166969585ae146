"""When do events fit? The checklist as data, a few short cases, and a helper that says which way a case leans.

Four questions decide most cases (:data:`CHECKLIST`):

* ``teams``: do different teams own the producer and the readers, each deploying on its own schedule?
* ``asynchronous``: can the work happen after the user has their answer?
* ``fan_out``: does one fact interest several readers, some of them not known yet?
* ``replay``: will someone need to read the history again (an audit, a rebuilt view, a new reader)?

:func:`lean` takes the four answers and returns a :class:`Verdict`, one of :data:`LEANINGS`:

* ``"events"``: the work can wait, and someone else needs the fact (fan-out or replay) or
  another team owns the work: publish it and let each reader consume it;
* ``"call_then_events"``: the caller needs an answer now, and others need the fact: answer
  from your own write (a call, a transaction) and publish the fact afterwards, through an
  outbox (lesson 03);
* ``"no_broker"``: nothing here pays for a broker: a function call, a shared database, a
  job table or a scheduled query is simpler to run and to debug.

The rule is deliberately small, so a learner can argue with it: ``teams`` alone does not
make a case for events when the caller needs the answer now (a query is not a fact anyone
else wants). Every verdict names the costs events bring, each with the lesson that
teaches it. :data:`CASES` holds six short stories with the kit's own answers;
:func:`review` puts a learner's calls beside them and :func:`explain` gives the kit's reasoning on one.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass
from collections.abc import Mapping

import pandas as pd

from .errors import ConfigError
from .params import check_flag

__all__ = ["CASES", "CHECKLIST", "COSTS", "LEANINGS", "Case", "Question", "Verdict", "cases", "explain", "lean", "review"]

LEANINGS: tuple[str, ...] = ("events", "call_then_events", "no_broker")


@dataclass(frozen=True)
class Question:
    """One question of the checklist: its ``name`` (a keyword of :func:`lean`), what it asks, and what each answer
    means for the design."""

    name: str
    ask: str
    if_yes: str
    if_no: str


CHECKLIST: tuple[Question, ...] = (
    Question("teams", "Do different teams own the producer and the readers, each deploying on its own schedule?",
             "a new reader must not need a change, a review and a deploy by the producer's team",
             "one team changes both ends in one commit: a call costs nothing to change"),
    Question("asynchronous", "Can the work happen after the user has their answer?",
             "nobody waits for it, so a broker in between costs the user nothing",
             "the caller needs the result now: answer from your own write or a call, not from a topic"),
    Question("fan_out", "Does one fact interest several readers, some of them not known yet?",
             "one record serves every reader, today's and tomorrow's, without the producer knowing them",
             "one reader, known today: a call or a job is as good"),
    Question("replay", "Will someone need to read the history again (an audit, a rebuilt view, a new reader)?",
             "a log that keeps the facts can be read again from the start (within its retention)",
             "once handled, the message can be forgotten"),
)

#: What events cost, whatever the case: each with the lesson where the kit shows it.
COSTS: tuple[str, ...] = (
    "readers see a change later than the writer (lesson 01)",
    "a crash between a write and its publish loses or duplicates events unless you use an outbox (lesson 03)",
    "every reader must tolerate repeats (lessons 04 and 06) and out-of-order keys (lesson 05)",
    "the event's schema is a contract with readers you do not know (lesson 07)",
    "a broker to run, watch and pay for, and flows that are harder to follow (lesson 11)",
)


@dataclass(frozen=True)
class Verdict:
    """Which way a case leans (one of :data:`LEANINGS`), the answers that pushed it there, and what to weigh."""

    leaning: str
    answers: Mapping[str, bool]
    reasons: tuple[str, ...]
    costs: tuple[str, ...]

    @property
    def yes(self) -> tuple[str, ...]:
        """The questions answered yes, in checklist order."""
        return tuple(q.name for q in CHECKLIST if self.answers[q.name])

    def __str__(self) -> str:
        lines = [f"leans {self.leaning}"] + [f"  - {r}" for r in self.reasons]
        if self.costs:
            lines.append("  weigh what events cost:")
            lines += [f"    * {c}" for c in self.costs]
        return "\n".join(lines)


def lean(*, teams: bool, asynchronous: bool, fan_out: bool, replay: bool) -> Verdict:
    """The checklist's verdict for one case: ``sk.fit.lean(teams=True, asynchronous=True, fan_out=True, replay=False)``.

    Each answer is True or False (a :class:`~simkit.errors.ConfigError` names any other).
    The rule: someone else needs the fact when ``fan_out`` or ``replay``; if the work can
    wait (``asynchronous``) and someone else needs the fact or another team owns the work,
    the case leans ``"events"``; if the caller needs the answer now but others need the
    fact, ``"call_then_events"``; otherwise ``"no_broker"``.
    """
    answers = {"teams": check_flag("teams", teams), "asynchronous": check_flag("asynchronous", asynchronous),
               "fan_out": check_flag("fan_out", fan_out), "replay": check_flag("replay", replay)}
    others_need_it = answers["fan_out"] or answers["replay"]
    if answers["asynchronous"] and (others_need_it or answers["teams"]):
        leaning = "events"
    elif not answers["asynchronous"] and others_need_it:
        leaning = "call_then_events"
    else:
        leaning = "no_broker"
    reasons = tuple(f"{q.name}: {'yes' if answers[q.name] else 'no'}, {q.if_yes if answers[q.name] else q.if_no}"
                    for q in CHECKLIST)
    return Verdict(leaning, answers, reasons, COSTS if leaning != "no_broker" else ())


@dataclass(frozen=True)
class Case:
    """A short story to decide: its ``name``, the ``story``, and the kit's own answers to the checklist with a
    sentence on each (``why``)."""

    name: str
    story: str
    answers: Mapping[str, bool]
    why: Mapping[str, str]

    @property
    def verdict(self) -> Verdict:
        """The checklist's verdict on the kit's answers."""
        return lean(**self.answers)


def _case(name: str, story: str, **marks: tuple[bool, str]) -> Case:
    return Case(name, story, {k: v[0] for k, v in marks.items()}, {k: v[1] for k, v in marks.items()})


CASES: dict[str, Case] = {c.name: c for c in (
    _case("checkout",
          "A shop's checkout page must show the customer their order number and whether the card went through. "
          "The warehouse, the loyalty points and the fraud team each act on every order.",
          teams=(True, "four teams, four deploy schedules"),
          asynchronous=(False, "the customer waits on the page for the order number and the card's answer"),
          fan_out=(True, "three readers of every order, and more will come"),
          replay=(False, "nothing here asks for the history")),
    _case("nightly_report",
          "Finance wants yesterday's sales totals in a spreadsheet by 7 a.m. The sales live in one database that "
          "belongs to the team that writes the report.",
          teams=(False, "one team owns the data and the report"),
          asynchronous=(True, "nobody waits: it runs at night"),
          fan_out=(False, "one reader, the report"),
          replay=(False, "the database already holds yesterday, and a query reads it")),
    _case("signup_fan_out",
          "When someone signs up, the welcome email, the CRM, the free-trial billing and product analytics must "
          "each act. Each is its own team, and a fifth team is being formed.",
          teams=(True, "five teams, each deploying when it likes"),
          asynchronous=(True, "the user is signed up before any email leaves"),
          fan_out=(True, "four readers today, a fifth tomorrow"),
          replay=(False, "only a reader that joins later needs the past, and fan-out already covers it")),
    _case("audit_log",
          "A bank must keep every change to a customer's credit limit and, years later, show what the limit was on "
          "any given day. A fraud model will be trained on the same history.",
          teams=(True, "compliance and fraud are not the team that changes limits"),
          asynchronous=(True, "the audit trail may be written just after the change"),
          fan_out=(False, "two readers, both reading history rather than reacting"),
          replay=(True, "the whole point is reading the past again, in order")),
    _case("two_person_team",
          "Two developers run a climbing gym's booking app: one service, one PostgreSQL database, a few hundred "
          "bookings a day, and a confirmation email after each booking.",
          teams=(False, "the same two people change every part"),
          asynchronous=(True, "the email can go a minute later"),
          fan_out=(False, "one reader, the email sender"),
          replay=(False, "nobody will reread old bookings as a stream")),
    _case("price_lookup",
          "A product page asks the pricing team's service for today's price of an item while it renders.",
          teams=(True, "pricing is another team"),
          asynchronous=(False, "the page cannot render without the price"),
          fan_out=(False, "it is a question, not a fact anyone else wants"),
          replay=(False, "nobody replays price questions")),
)}


def cases() -> str:
    """The cases to decide, each name followed by its story, without the kit's answers (``print`` it)."""
    return "\n\n".join(f"{name}\n" + textwrap.fill(c.story, 100, initial_indent="    ", subsequent_indent="    ")
                       for name, c in CASES.items())


def explain(case: str) -> str:
    """The kit's reasoning on one case of :data:`CASES`: its leaning, then its answer to each question and why."""
    if case not in CASES:
        close = difflib.get_close_matches(str(case), list(CASES), n=1)
        raise ConfigError("case", case, "a case name: " + ", ".join(CASES)
                          + (f" (did you mean {close[0]!r}?)" if close else ""))
    c = CASES[case]
    return "\n".join([f"{case} leans {c.verdict.leaning}"] + [
        f"    {q.name}: {'yes' if c.answers[q.name] else 'no'}, {c.why[q.name]}" for q in CHECKLIST])


def review(calls: Mapping[str, str]) -> pd.DataFrame:
    """Your calls beside the kit's: one row per case, with the kit's answers, its leaning and whether you agree.

    ``calls`` maps a case name (of :data:`CASES`) to your leaning, one of
    :data:`LEANINGS`, or ``""`` for a case you have not decided. Columns: ``yours``, the
    four questions (the kit's answers), ``kit`` and ``agree`` (True, False, or None when you
    made no call). :func:`explain` gives the kit's reason for each answer.
    """
    if not isinstance(calls, Mapping):
        raise ConfigError("calls", calls, "a dict of case name -> leaning")
    for name, call in calls.items():
        if name not in CASES:
            close = difflib.get_close_matches(str(name), list(CASES), n=1)
            raise ConfigError("calls", name, "keys that are case names: " + ", ".join(CASES)
                              + (f" (did you mean {close[0]!r}?)" if close else ""))
        if call not in (*LEANINGS, ""):
            raise ConfigError(f"calls[{name!r}]", call, f"one of {', '.join(LEANINGS)}, or '' for no call yet")
    rows = []
    for name, case in CASES.items():
        mine = calls.get(name, "")
        kit = case.verdict.leaning
        rows.append({"case": name, "yours": mine or "(no call)", **{q.name: case.answers[q.name] for q in CHECKLIST},
                     "kit": kit, "agree": (mine == kit) if mine else None})
    return pd.DataFrame(rows).set_index("case")
