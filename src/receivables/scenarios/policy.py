"""Collection scenarios: a typed policy read from YAML, validated once, when it is loaded.

    policy = load_policy(default_policy_path())            # include/scenarios/default_fr_b2b.yaml
    policy.scenario("standard").step("formal_notice")
    # Step(id='formal_notice', offset_days=45, channel='formal_notice', tone='legal',
    #      requires_approval=True, legal_fees=True, ...)
    choose_scenario(policy, customers)                      # customer_id -> "standard" | "strategic" | ...

A policy file holds the scenarios and the rules that choose one per customer:

    scenarios:
      - id: standard
        description: French B2B practice
        language_default: fr                    # ISO 639-1, used when the customer has none
        steps:                                  # strictly increasing offset_days
          - id: courtesy
            offset_days: -7                     # days from the due date (negative: before it)
            channel: email                      # email sms letter call statement formal_notice agency_handoff
            template: email/courtesy            # <channel>/<name>: include/templates/email/courtesy.<lang>.<ext>.j2
            tone: courtesy                      # courtesy friendly firm formal legal
          - id: reminder_2
            offset_days: 10
            channel: email
            also_channels: [sms]                # the same step also goes out by SMS, same day
            fallback_channel: letter            # instead of the email when the customer opted out of email
            template: email/reminder_2
            tone: firm
            min_amount: "50"                    # decimal text, ledger currency; below it the step is skipped
            conditions: {segment: [TPE, PME]}   # the step applies to these customers only
          - id: formal_notice
            offset_days: 45
            channel: formal_notice
            template: formal_notice/formal_notice
            tone: legal
            requires_approval: true             # required for formal_notice and agency_handoff
            legal_fees: true                    # shows late interest and the 40 EUR indemnity
    thank_you: true                             # default: a thank-you email after an overdue invoice is settled
    send_hour: 9                                # default: messages scheduled at 9:00 in the customer's time zone
    rules:                                      # first match wins
      - when: {customers: [C042]}               # a per-customer override wins only when placed first
        scenario: strategic
      - when: {strategic: true}
        scenario: strategic
      - when: {risk_class: [high, critical]}
        scenario: high_risk
      - scenario: standard                      # no `when`: the default, exactly one, last

Validation is strict, because a typo in a collection policy must not pass silently: an unknown
key, a duplicated key, a missing required field, a value of the wrong type or outside its list,
steps out of order, a formal notice or agency hand-off without `requires_approval`, legal fees
on a channel other than a letter or a formal notice, a rule naming an undefined scenario, no
default rule: each raises `PolicyError`, whose message names the file, the scenario, the step
(or the rule, 1-based) and the field:

    default_fr_b2b.yaml, scenario 'standard', step 'formal_notice', field 'requires_approval':
    formal notices need human approval

A YAML syntax error names the file and the line. Amounts are `Decimal` (YAML numbers written
without quotes are read from their text, never through a float).

Conditions (a step's `conditions`, a rule's `when`): every key given must match (AND); a list
matches any of its values (OR). `segment` TPE PME ETI GE, `risk_class` low medium high critical,
`strategic` true/false, and in rules only, `customers` (customer ids, quoted when they look like
numbers). A customer whose segment, risk class or strategic flag is unknown matches no condition
on it, so it falls through to a later rule, in the end the default.

Pure: no Airflow, no environment, no clock.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd
import yaml

from receivables.ledger.schema import SEGMENTS

SCENARIOS_DIR = Path(__file__).resolve().parents[3] / "include" / "scenarios"
DEFAULT_POLICY_FILE = "default_fr_b2b.yaml"

CHANNELS = ("email", "sms", "letter", "call", "statement", "formal_notice", "agency_handoff")
TONES = ("courtesy", "friendly", "firm", "formal", "legal")
RISK_CLASSES = ("low", "medium", "high", "critical")         # scoring.risk.CLASSES, in order
APPROVAL_CHANNELS = {"formal_notice": "formal notices", "agency_handoff": "agency hand-offs"}
LEGAL_FEES_CHANNELS = ("formal_notice", "letter")
CUSTOMER_COLUMNS = ("customer_id", "segment", "strategic", "risk_class")

_ID = re.compile(r"[a-z][a-z0-9_]*\Z")                     # ids end up in file names and action keys
_LANGUAGE = re.compile(r"[a-z]{2}\Z")
_TEMPLATE_PART = re.compile(r"[A-Za-z0-9_-]+\Z")

_POLICY_KEYS = ("description", "scenarios", "rules", "thank_you", "send_hour")
_SCENARIO_KEYS = ("id", "description", "language_default", "steps")
_STEP_KEYS = ("id", "offset_days", "channel", "also_channels", "fallback_channel", "template", "tone",
              "min_amount", "conditions", "requires_approval", "legal_fees")
_STEP_REQUIRED = ("id", "offset_days", "channel", "template", "tone")
_CONDITION_KEYS = ("segment", "risk_class", "strategic")
_RULE_KEYS = ("scenario", "when", "description")
_WHEN_KEYS = ("segment", "risk_class", "strategic", "customers")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, where in it, and the field."""

    def __init__(self, source: str, message: str, *, scenario: str | int | None = None,
                 step: str | int | None = None, rule: int | None = None, field: str | None = None,
                 line: int | None = None):
        self.source, self.scenario, self.step, self.rule = source, scenario, step, rule
        self.field, self.line = field, line
        where = [source]
        if line is not None:
            where.append(f"line {line}")
        if scenario is not None:
            where.append(f"scenario {_label(scenario)}")
        if rule is not None:
            where.append(f"rule {rule}")
        if step is not None:
            where.append(f"step {_label(step)}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


def _label(name: str | int) -> str:
    """Ids quoted, positions (used until the id is known) bare: scenario 'standard', step 3."""
    return str(name) if isinstance(name, int) else repr(name)


# -- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conditions:
    """Which customers something applies to; None: no condition on that attribute."""

    segment: tuple[str, ...] | None = None
    risk_class: tuple[str, ...] | None = None
    strategic: bool | None = None
    customers: tuple[str, ...] | None = None            # rules only

    def mask(self, customers: pd.DataFrame) -> np.ndarray:
        """A boolean array over `customers` rows (columns as in `choose_scenario`)."""
        out = np.ones(len(customers), dtype=bool)
        if self.segment is not None:
            out &= customers["segment"].isin(self.segment).to_numpy(dtype=bool, na_value=False)
        if self.risk_class is not None:
            out &= customers["risk_class"].isin(self.risk_class).to_numpy(dtype=bool, na_value=False)
        if self.strategic is not None:
            # eq, not ==/astype(bool): an unknown flag (NaN, <NA>, None) matches neither true nor false
            out &= customers["strategic"].eq(self.strategic).to_numpy(dtype=bool, na_value=False)
        if self.customers is not None:
            out &= customers["customer_id"].astype(str).isin(self.customers).to_numpy(dtype=bool, na_value=False)
        return out


@dataclass(frozen=True)
class Step:
    id: str
    offset_days: int                     # from the due date; negative before it
    channel: str
    template: str                        # "<channel>/<name>"
    tone: str
    min_amount: Decimal = Decimal("0")   # ledger currency
    conditions: Conditions = field(default_factory=Conditions)
    requires_approval: bool = False
    fallback_channel: str | None = None  # replaces `channel` for a customer who opted out of it
    legal_fees: bool = False
    also_channels: tuple[str, ...] = ()  # sent too, same day, same step

    @property
    def channels(self) -> tuple[str, ...]:
        """Every channel the step sends on (before opt-outs): its channel, then also_channels."""
        return (self.channel, *self.also_channels)

    def template_for(self, channel: str) -> str:
        """The template for one of the step's channels (fallback included): the same name in
        that channel's folder, e.g. email/reminder_2 -> sms/reminder_2."""
        if channel not in (*self.channels, self.fallback_channel):
            raise ValueError(f"step {self.id!r} does not send on {channel!r}")
        return f"{channel}/{self.template.split('/', 1)[1]}"


def _by_id(items, wanted: str, missing: str):  # noqa: ANN001, ANN202
    found = next((item for item in items if item.id == wanted), None)
    if found is None:
        raise KeyError(f"{missing} {wanted!r}")
    return found


@dataclass(frozen=True)
class Scenario:
    id: str
    steps: tuple[Step, ...]              # strictly increasing offset_days
    description: str = ""
    language_default: str = "fr"

    def step(self, step_id: str) -> Step:
        return _by_id(self.steps, step_id, f"scenario {self.id!r} has no step")


@dataclass(frozen=True)
class Rule:
    scenario: str
    when: Conditions | None = None       # None: the default rule
    description: str = ""

    @property
    def is_default(self) -> bool:
        return self.when is None


@dataclass(frozen=True)
class Policy:
    source: str                          # the file's name, for messages
    scenarios: tuple[Scenario, ...]
    rules: tuple[Rule, ...]              # evaluated in order, first match wins; the last is the default
    description: str = ""
    thank_you: bool = True               # thank customers who settled an overdue invoice since the last run
    send_hour: int = 9                   # local hour (customer's time zone) messages are scheduled at

    def scenario(self, scenario_id: str) -> Scenario:
        return _by_id(self.scenarios, scenario_id, f"{self.source} has no scenario")

    @property
    def scenario_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scenarios)


# -- choosing a scenario per customer ------------------------------------------------------------

def choose_scenario(policy: Policy, customers: pd.DataFrame) -> pd.Series:
    """The scenario id of each customer, indexed by customer_id (named "scenario").

    `customers` has one row per customer and the columns customer_id, segment (TPE, PME, ETI,
    GE, or ""), strategic (bool) and risk_class (low, medium, high, critical, or missing when
    the customer was not scored). Rules are evaluated in order and the first match wins, so a
    per-customer override (`when: {customers: [...]}`) beats a segment or risk rule only when
    it is placed before it. Vectorized: one pass per rule, not per customer.
    """
    missing = [c for c in CUSTOMER_COLUMNS if c not in customers.columns]
    if missing:
        raise ValueError(f"choose_scenario needs the customer column(s) {', '.join(missing)}")
    duplicated = customers["customer_id"].duplicated()
    if duplicated.any():
        raise ValueError(f"customer {customers['customer_id'][duplicated].iloc[0]!r} appears more than once")
    chosen = np.full(len(customers), None, dtype=object)
    free = np.ones(len(customers), dtype=bool)
    for rule in policy.rules:
        hit = free if rule.when is None else free & rule.when.mask(customers)
        chosen[hit] = rule.scenario
        free &= ~hit
    return pd.Series(chosen, index=pd.Index(customers["customer_id"], name="customer_id"), name="scenario")


# -- loading ---------------------------------------------------------------------------------------

def default_policy_path() -> Path:
    """The policy shipped with the package: include/scenarios/default_fr_b2b.yaml in the repository."""
    return SCENARIOS_DIR / DEFAULT_POLICY_FILE


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; any problem raises `PolicyError` naming where it is."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(path.name, f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(path.name, "not UTF-8 text") from None
    return policy_from_dict(parse_yaml(text, path.name), source=path.name)


class _PolicyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, stricter: a key given twice is an error (PyYAML would silently
    keep the last one), and a number with a decimal point becomes a Decimal read from its text
    (never a float: `min_amount: 12.10` stays exactly 12.10)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    again = key in seen
                except TypeError:          # an unhashable key: let PyYAML report it
                    break
                if again:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"the key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node).replace("_", "")
        try:
            value = Decimal(text)
        except InvalidOperation:               # .inf, .nan: the validators refuse them
            return super().construct_yaml_float(node)
        return value


_PolicyLoader.add_constructor("tag:yaml.org,2002:float", _PolicyLoader.construct_yaml_float)


def parse_yaml(text: str, source: str) -> object:
    """The YAML document in `text`; a syntax error raises `PolicyError` naming `source` and the line."""
    try:
        return yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
        raise PolicyError(source, message, line=mark.line + 1 if mark is not None else None) from None


def policy_from_dict(data: object, *, source: str = "<policy>") -> Policy:
    """Validate a policy given as plain data (what `load_policy` reads from the file)."""
    at = _At(source)
    if not isinstance(data, dict):
        raise PolicyError(source, "expected a mapping with the keys scenarios and rules")
    _check_keys(data, _POLICY_KEYS, ("scenarios", "rules"), at)

    raw_scenarios = data["scenarios"]
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        at.fail("scenarios", "must be a non-empty list of scenarios")
    scenarios: list[Scenario] = []
    for position, raw in enumerate(raw_scenarios, start=1):
        scenario = _scenario(raw, at.inside(scenario=position))
        if scenario.id in {s.id for s in scenarios}:
            at.inside(scenario=scenario.id).fail("id", "another scenario has this id")
        scenarios.append(scenario)

    raw_rules = data["rules"]
    if not isinstance(raw_rules, list) or not raw_rules:
        at.fail("rules", "must be a non-empty list of rules, the last one without `when` (the default)")
    known = [s.id for s in scenarios]
    rules = tuple(_rule(raw, at.inside(rule=position), known) for position, raw in enumerate(raw_rules, start=1))
    defaults = [position for position, rule in enumerate(rules, start=1) if rule.is_default]
    if not defaults:
        at.fail("rules", "no default rule: end the rules with one that has no `when`, "
                         "so that every customer gets a scenario")
    if defaults[0] != len(rules):
        at.inside(rule=defaults[0]).fail(
            "when", "the default rule (no `when`) matches every customer, so it must be the last rule"
                    + ("" if len(defaults) == 1 else "; there can be only one"))
    send_hour = data.get("send_hour", 9)
    if isinstance(send_hour, bool) or not isinstance(send_hour, int) or not 0 <= send_hour <= 23:
        at.fail("send_hour", f"must be an hour from 0 to 23, not {send_hour!r}")
    return Policy(source=source, scenarios=tuple(scenarios), rules=rules,
                  description=_optional_text(data, "description", at),
                  thank_you=_flag(data.get("thank_you", True), "thank_you", at), send_hour=send_hour)


# -- validators ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _At:
    """Where the validator is, for error messages."""

    source: str
    scenario: str | int | None = None
    step: str | int | None = None
    rule: int | None = None

    def inside(self, **where) -> "_At":
        return _At(**{**self.__dict__, **where})

    def fail(self, field_name: str | None, message: str) -> NoReturn:
        raise PolicyError(self.source, message, scenario=self.scenario, step=self.step, rule=self.rule,
                          field=field_name)


def _check_keys(data: dict, allowed: tuple[str, ...], required: tuple[str, ...], at: _At) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            at.fail(str(key), f"unknown key; {hint}(the keys are {', '.join(allowed)})")
    for key in required:
        if data.get(key) is None:
            at.fail(key, "required")


def _scenario(raw: object, at: _At) -> Scenario:
    if not isinstance(raw, dict):
        at.fail(None, "a scenario must be a mapping with the keys id, steps, ...")
    if isinstance(raw.get("id"), str):
        at = at.inside(scenario=raw["id"])
    _check_keys(raw, _SCENARIO_KEYS, ("id", "steps"), at)
    scenario_id = _identifier(raw["id"], "id", at)
    language = raw.get("language_default")
    if language is None:
        language = "fr"
    elif not isinstance(language, str) or not _LANGUAGE.match(language):
        at.fail("language_default", f"must be an ISO 639-1 code in lower case (fr, en, de, ...), not {language!r}")

    raw_steps = raw["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        at.fail("steps", "must be a non-empty list of steps")
    steps: list[Step] = []
    for position, raw_step in enumerate(raw_steps, start=1):
        step = _step(raw_step, at.inside(step=position))
        here = at.inside(step=step.id)
        if step.id in {s.id for s in steps}:
            here.fail("id", "another step of this scenario has this id")
        if steps and step.offset_days <= steps[-1].offset_days:
            previous = steps[-1]
            here.fail("offset_days", f"{_day(step.offset_days)} does not come after step {previous.id!r} at "
                                     f"{_day(previous.offset_days)}: steps go in strictly increasing offset order "
                                     "(to send on several channels the same day, use also_channels)")
        steps.append(step)
    return Scenario(id=scenario_id, steps=tuple(steps), description=_optional_text(raw, "description", at),
                    language_default=language)


def _day(offset: int) -> str:
    return f"D{offset:+d}"


def _step(raw: object, at: _At) -> Step:
    if not isinstance(raw, dict):
        at.fail(None, "a step must be a mapping with the keys id, offset_days, channel, template, tone, ...")
    if isinstance(raw.get("id"), str):
        at = at.inside(step=raw["id"])
    _check_keys(raw, _STEP_KEYS, _STEP_REQUIRED, at)
    step_id = _identifier(raw["id"], "id", at)

    offset = raw["offset_days"]
    if isinstance(offset, bool) or not isinstance(offset, int):
        at.fail("offset_days", f"must be a whole number of days from the due date (e.g. -7, 10), not {offset!r}")

    channel = _choice(raw["channel"], CHANNELS, "channel", at)
    also = tuple(_choices(raw.get("also_channels"), CHANNELS, "also_channels", at) or ())
    if channel in also:
        at.fail("also_channels", f"{channel!r} is already the step's channel")
    fallback = raw.get("fallback_channel")
    if fallback is not None:
        fallback = _choice(fallback, CHANNELS, "fallback_channel", at)
        if fallback in (channel, *also):
            at.fail("fallback_channel", f"the step already sends on {fallback!r}; a fallback replaces the "
                                        "step's channel for a customer who opted out of it")

    template = _template(raw["template"], channel, at)
    tone = _choice(raw["tone"], TONES, "tone", at)
    min_amount = _amount(raw.get("min_amount"), "min_amount", at)
    requires_approval = _flag(raw.get("requires_approval"), "requires_approval", at)
    legal_fees = _flag(raw.get("legal_fees"), "legal_fees", at)

    for needs_approval in (channel, *also, fallback):
        if needs_approval in APPROVAL_CHANNELS and not requires_approval:
            at.fail("requires_approval", f"{APPROVAL_CHANNELS[needs_approval]} need human approval "
                                         "(set requires_approval: true)")
    if legal_fees:
        for other in (channel, *also, fallback):
            if other is not None and other not in LEGAL_FEES_CHANNELS:
                at.fail("legal_fees", f"late interest and the 40 EUR indemnity are shown only on a formal notice "
                                      f"or a letter; this step also sends on {other!r}")

    conditions = raw.get("conditions")
    if conditions is None:
        conditions = Conditions()
    else:
        conditions = _conditions(conditions, _CONDITION_KEYS, "conditions", at)
    return Step(id=step_id, offset_days=offset, channel=channel, template=template, tone=tone,
                min_amount=min_amount, conditions=conditions, requires_approval=requires_approval,
                fallback_channel=fallback, legal_fees=legal_fees, also_channels=also)


def _rule(raw: object, at: _At, known: list[str]) -> Rule:
    if not isinstance(raw, dict):
        at.fail(None, "a rule must be a mapping with the keys scenario and (except the default) when")
    _check_keys(raw, _RULE_KEYS, ("scenario",), at)
    scenario = raw["scenario"]
    if scenario not in known:
        at.fail("scenario", f"no scenario {scenario!r} in this file (the scenarios are {', '.join(known)})")
    when = raw.get("when")
    if when is not None:
        when = _conditions(when, _WHEN_KEYS, "when", at)
        if when == Conditions():
            at.fail("when", "an empty `when` matches every customer; leave `when` out for the default rule")
    return Rule(scenario=scenario, when=when, description=_optional_text(raw, "description", at))


def _conditions(raw: object, allowed: tuple[str, ...], name: str, at: _At) -> Conditions:
    if not isinstance(raw, dict):
        at.fail(name, f"must be a mapping with any of the keys {', '.join(allowed)}")
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            at.fail(f"{name}.{key}", f"unknown key; {hint}(the keys are {', '.join(allowed)})")
    strategic = raw.get("strategic")
    if strategic is not None:
        strategic = _flag(strategic, f"{name}.strategic", at)
    customers = raw.get("customers")
    if customers is not None:
        if isinstance(customers, str):
            customers = [customers]
        if not isinstance(customers, list) or not customers:
            at.fail(f"{name}.customers", "must be a list of customer ids")
        for customer in customers:
            if not isinstance(customer, str) or not customer.strip():
                # YAML reads 00123 as a number (octal, even): the id would silently never match
                at.fail(f"{name}.customers", f"customer ids are text: quote {customer!r} (\"...\")")
        customers = tuple(dict.fromkeys(c.strip() for c in customers))
    segment = _choices(raw.get("segment"), SEGMENTS, f"{name}.segment", at)
    risk = _choices(raw.get("risk_class"), RISK_CLASSES, f"{name}.risk_class", at)
    return Conditions(segment=segment, risk_class=risk, strategic=strategic, customers=customers)


def _identifier(value: object, name: str, at: _At) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        at.fail(name, f"must be a lower-case name (letters, digits, _; e.g. reminder_1), not {value!r}")
    return value


def _choice(value: object, allowed: tuple[str, ...], name: str, at: _At) -> str:
    if value not in allowed or not isinstance(value, str):
        at.fail(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _choices(value: object, allowed: tuple[str, ...], name: str, at: _At) -> tuple[str, ...] | None:
    """A list of allowed values (a single value reads as a list of one); None when not given."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        at.fail(name, f"must be a list of {', '.join(allowed)}")
    for item in values:
        _choice(item, allowed, name, at)
    return tuple(dict.fromkeys(values))


def _flag(value: object, name: str, at: _At) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        at.fail(name, f"must be true or false, not {value!r}")
    return value


def _amount(value: object, name: str, at: _At) -> Decimal:
    if value is None:
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        at.fail(name, f"must be a decimal amount like \"12.50\", not {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        at.fail(name, f"must be a decimal amount like \"12.50\" (point as decimal mark), not {value!r}")
    if amount < 0:
        at.fail(name, f"must not be negative, not {value!r}")
    return amount


def _template(value: object, channel: str, at: _At) -> str:
    if not isinstance(value, str) or not value.strip():
        at.fail("template", f"must be a template name like {channel}/reminder_1, not {value!r}")
    if value.startswith("/") or "\\" in value or ".." in value.split("/"):
        at.fail("template", f"{value!r} must be a name relative to include/templates, without '..'")
    parts = value.split("/")
    if len(parts) != 2 or not all(_TEMPLATE_PART.match(p) for p in parts):
        at.fail("template", f"{value!r} must be <channel>/<name> (letters, digits, _ or -; no language or "
                            f"extension: those come from include/templates/{channel}/<name>.<lang>.<ext>.j2)")
    if parts[0] != channel:
        at.fail("template", f"{value!r} is in the folder {parts[0]!r}, but the step's channel is {channel!r}")
    return value


def _optional_text(data: dict, name: str, at: _At) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        at.fail(name, f"must be text, not {value!r}")
    return value.strip()
