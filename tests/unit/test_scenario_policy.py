"""Collection scenarios: the policy file is typed and validated when loaded; rules choose a scenario."""

from decimal import Decimal
from pathlib import Path
from textwrap import dedent

import pandas as pd
import pytest

from receivables.scenarios.policy import (
    RISK_CLASSES,
    PolicyError,
    choose_scenario,
    default_policy_path,
    load_policy,
)

# The smallest useful policy: one scenario of two steps, a default rule. Tests break one thing.
MINIMAL = dedent("""\
    scenarios:
      - id: standard
        steps:
          - id: reminder_1
            offset_days: 3
            channel: email
            template: email/reminder_1
            tone: friendly
          - id: formal_notice
            offset_days: 45
            channel: formal_notice
            template: formal_notice/formal_notice
            tone: legal
            requires_approval: true
            legal_fees: true
    rules:
      - scenario: standard
    """)


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str, name: str = "policy.yaml") -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text, name))
    return str(caught.value)


def customers(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["customer_id", "segment", "strategic", "risk_class"])


# -- the shipped French B2B policy ---------------------------------------------------------------

def test_the_default_policy_path_is_the_shipped_french_b2b_file_in_include_scenarios():
    path = default_policy_path()
    assert path.is_file() and path.parent.name == "scenarios" and path.parent.parent.name == "include"


def test_the_default_policy_loads_with_the_steps_french_practice_expects():
    policy = load_policy(default_policy_path())
    assert policy.scenario_ids == ("standard", "strategic", "high_risk")
    standard = policy.scenario("standard")
    assert standard.language_default == "fr"
    assert [(s.id, s.offset_days, s.channels) for s in standard.steps] == [
        ("courtesy", -7, ("email",)),                    # courtesy notice before the due date
        ("reminder_1", 3, ("email",)),
        ("reminder_2", 10, ("email", "sms")),            # email and SMS the same day: one step
        ("reminder_letter", 20, ("letter",)),
        ("call", 30, ("call",)),
        ("formal_notice", 45, ("formal_notice",)),       # mise en demeure
        ("agency_handoff", 60, ("agency_handoff",)),
    ]
    notice, agency = standard.step("formal_notice"), standard.step("agency_handoff")
    assert notice.requires_approval and notice.legal_fees and notice.tone == "legal"
    assert agency.requires_approval and not agency.legal_fees
    assert [s.id for s in standard.steps if s.requires_approval] == ["formal_notice", "agency_handoff"]
    assert standard.step("courtesy").tone == "courtesy" and standard.step("reminder_1").tone == "friendly"
    assert standard.step("reminder_2").fallback_channel == "letter"
    assert standard.step("reminder_2").template_for("sms") == "sms/reminder_2"


def test_the_strategic_scenario_sends_statements_and_an_account_manager_call_and_never_a_formal_notice():
    strategic = load_policy(default_policy_path()).scenario("strategic")
    assert [(s.offset_days, s.channel) for s in strategic.steps] == [(3, "statement"), (10, "call"), (30, "statement")]
    assert {s.tone for s in strategic.steps} <= {"courtesy", "friendly"}
    assert not any(s.requires_approval or s.legal_fees for s in strategic.steps)


def test_the_high_risk_scenario_reaches_the_formal_notice_and_the_agency_earlier_than_the_standard_one():
    policy = load_policy(default_policy_path())
    standard, high = policy.scenario("standard"), policy.scenario("high_risk")
    for step_id in ("reminder_1", "call", "formal_notice", "agency_handoff"):
        assert high.step(step_id).offset_days < standard.step(step_id).offset_days
    assert [s.offset_days for s in high.steps if s.offset_days > 0] == [1, 7, 14, 30, 45]
    assert high.step("formal_notice").requires_approval and high.step("agency_handoff").requires_approval


def test_the_risk_classes_are_those_scoring_produces():
    from receivables.scoring.risk import CLASSES
    assert RISK_CLASSES == tuple(name for _, name in CLASSES)


def test_a_minimal_policy_takes_the_defaults(tmp_path):
    policy = load_policy(write(tmp_path, MINIMAL))
    step = policy.scenario("standard").step("reminder_1")
    assert step.min_amount == Decimal("0") and isinstance(step.min_amount, Decimal)
    assert not step.requires_approval and not step.legal_fees and step.fallback_channel is None
    assert step.also_channels == () and step.conditions.segment is None
    assert policy.scenario("standard").language_default == "fr"
    assert policy.rules[-1].is_default


# -- refused policies: the message says where --------------------------------------------------------

def test_a_formal_notice_without_approval_is_refused_naming_the_file_scenario_step_and_field(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("requires_approval: true", "requires_approval: false"),
                      name="default_fr_b2b.yaml")
    assert message == ("default_fr_b2b.yaml, scenario 'standard', step 'formal_notice', field 'requires_approval': "
                       "formal notices need human approval (set requires_approval: true)")


def test_an_agency_handoff_without_approval_is_refused(tmp_path):
    agency = ("      - {id: agency, offset_days: 60, channel: agency_handoff,\n"
              "         template: agency_handoff/agency_handoff, tone: legal}\n")
    message = refused(tmp_path, MINIMAL.replace("rules:", agency + "rules:"))
    assert message == ("policy.yaml, scenario 'standard', step 'agency', field 'requires_approval': "
                       "agency hand-offs need human approval (set requires_approval: true)")


def test_an_unknown_key_is_refused_with_its_name_and_the_likely_intended_key(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("tone: friendly", "tonne: friendly"))
    assert message.startswith("policy.yaml, scenario 'standard', step 'reminder_1', field 'tonne': unknown key")
    assert "did you mean 'tone'?" in message


def test_an_unknown_key_in_conditions_or_at_the_top_is_refused_too(tmp_path):
    assert "field 'conditions.segmnet': unknown key" in refused(
        tmp_path, MINIMAL.replace("tone: friendly", "tone: friendly\n        conditions: {segmnet: [PME]}"))
    assert "policy.yaml, field 'rule': unknown key; did you mean 'rules'?" in refused(
        tmp_path, MINIMAL.replace("rules:", "rule:"))


def test_a_key_given_twice_is_refused_with_its_line_rather_than_the_last_one_silently_winning(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("tone: friendly", "tone: friendly\n        tone: legal"))
    assert message.startswith("policy.yaml, line 9: ") and "the key 'tone' is given twice" in message


def test_a_missing_required_field_is_refused(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("        tone: friendly\n", ""))
    assert message == "policy.yaml, scenario 'standard', step 'reminder_1', field 'tone': required"


def test_steps_out_of_order_are_refused(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("offset_days: 45", "offset_days: 3"))
    assert message.startswith("policy.yaml, scenario 'standard', step 'formal_notice', field 'offset_days': "
                              "D+3 does not come after step 'reminder_1' at D+3")
    assert "also_channels" in message


def test_two_steps_with_the_same_id_are_refused(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("id: formal_notice", "id: reminder_1"))
    assert "step 'reminder_1', field 'id': another step of this scenario has this id" in message


def test_a_rule_naming_an_unknown_scenario_is_refused(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("rules:\n", "rules:\n  - when: {strategic: true}\n    scenario: vip\n"))
    assert message == ("policy.yaml, rule 1, field 'scenario': no scenario 'vip' in this file "
                       "(the scenarios are standard)")


def test_rules_without_a_default_are_refused(tmp_path):
    no_default = MINIMAL.replace("  - scenario: standard", "  - when: {segment: [PME]}\n    scenario: standard")
    message = refused(tmp_path, no_default)
    assert message.startswith("policy.yaml, field 'rules': no default rule")


def test_a_default_rule_before_other_rules_is_refused_because_they_could_never_match(tmp_path):
    message = refused(tmp_path, MINIMAL + "  - when: {risk_class: [high]}\n    scenario: standard\n")
    assert message.startswith("policy.yaml, rule 1, field 'when': the default rule")


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    broken = MINIMAL.replace("    tone: legal", "    tone: [legal")
    message = refused(tmp_path, broken, name="scenarios.yaml")
    # the bracket opens on line 13; the parser finds it unclosed on line 14
    assert message == ("scenarios.yaml, line 14: not valid YAML: expected ',' or ']', "
                       "but got ':' (while parsing a flow sequence)")


def test_a_bad_indentation_names_its_line(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("        tone: friendly", "          tone: friendly"))  # line 8
    assert message == "policy.yaml, line 8: not valid YAML: mapping values are not allowed here"


def test_a_channel_or_tone_outside_the_lists_is_refused(tmp_path):
    assert "field 'channel': must be one of email, sms" in refused(
        tmp_path, MINIMAL.replace("channel: email", "channel: fax"))
    assert "field 'tone': must be one of courtesy, friendly, firm, formal, legal, not 'angry'" in refused(
        tmp_path, MINIMAL.replace("tone: friendly", "tone: angry"))


def test_legal_fees_are_refused_on_an_email(tmp_path):
    message = refused(tmp_path, MINIMAL.replace("tone: friendly", "tone: friendly\n        legal_fees: true"))
    assert "step 'reminder_1', field 'legal_fees'" in message and "'email'" in message


@pytest.mark.parametrize("template, problem", [
    ("../secrets", "without '..'"),
    ("/etc/passwd", "without '..'"),
    ("''", "must be a template name"),
    ("email/reminder_1.fr.html.j2", "no language or extension"),
    ("sms/reminder_1", "the step's channel is 'email'"),
])
def test_a_template_must_be_a_name_in_the_channel_folder_without_dots(tmp_path, template, problem):
    message = refused(tmp_path, MINIMAL.replace("template: email/reminder_1", f"template: {template}"))
    assert "step 'reminder_1', field 'template'" in message and problem in message


def test_also_channels_and_fallback_channel_are_channels_distinct_from_the_steps_own(tmp_path):
    assert "field 'also_channels': must be one of" in refused(
        tmp_path, MINIMAL.replace("channel: email", "channel: email\n        also_channels: [pigeon]"))
    assert "field 'also_channels': 'email' is already the step's channel" in refused(
        tmp_path, MINIMAL.replace("channel: email", "channel: email\n        also_channels: [email]"))
    assert "field 'fallback_channel'" in refused(
        tmp_path, MINIMAL.replace("channel: email", "channel: email\n        also_channels: [sms]\n"
                                                    "        fallback_channel: sms"))


def test_customer_ids_in_an_override_must_be_quoted_text(tmp_path):
    unquoted = MINIMAL.replace("rules:\n", "rules:\n  - when: {customers: [00123]}\n    scenario: standard\n")
    message = refused(tmp_path, unquoted)
    assert "rule 1, field 'when.customers': customer ids are text" in message


# -- amounts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("written, expected", [('"12.5"', Decimal("12.5")), ("12.10", Decimal("12.10")),
                                               ("500", Decimal("500")), ('"0"', Decimal("0"))])
def test_min_amount_is_an_exact_decimal_quoted_or_not(tmp_path, written, expected):
    text = MINIMAL.replace("tone: friendly", f"tone: friendly\n        min_amount: {written}")
    policy = load_policy(write(tmp_path, text))
    amount = policy.scenario("standard").step("reminder_1").min_amount
    assert isinstance(amount, Decimal) and amount == expected and str(amount) == str(expected)


@pytest.mark.parametrize("written", ['"abc"', '"12,5"', '"-1"', ".nan", "true"])
def test_a_min_amount_that_is_not_a_decimal_or_is_negative_is_refused(tmp_path, written):
    message = refused(tmp_path, MINIMAL.replace("tone: friendly", f"tone: friendly\n        min_amount: {written}"))
    assert "scenario 'standard', step 'reminder_1', field 'min_amount'" in message


# -- choosing a scenario ----------------------------------------------------------------------------------

def test_strategic_customers_get_the_strategic_scenario_high_risk_ones_high_risk_and_others_standard():
    policy = load_policy(default_policy_path())
    chosen = choose_scenario(policy, customers(
        ("C001", "GE", True, "low"),
        ("C002", "PME", False, "critical"),
        ("C003", "TPE", False, "high"),
        ("C004", "PME", False, "medium"),
        ("C005", "ETI", True, "critical"),               # strategic comes first: the account manager handles it
        ("C006", "", False, None),                       # not scored yet, segment unknown
    ))
    assert chosen.name == "scenario" and chosen.index.name == "customer_id"
    assert chosen.to_dict() == {"C001": "strategic", "C002": "high_risk", "C003": "high_risk",
                                "C004": "standard", "C005": "strategic", "C006": "standard"}


def test_a_per_customer_override_placed_first_wins_over_the_later_rules(tmp_path):
    shipped = default_policy_path().read_text(encoding="utf-8")
    override = shipped.replace("rules:\n", 'rules:\n  - when: {customers: ["C002"]}\n    scenario: standard\n')
    policy = load_policy(write(tmp_path, override))
    chosen = choose_scenario(policy, customers(("C002", "PME", False, "critical"), ("C003", "PME", False, "critical")))
    assert chosen.to_dict() == {"C002": "standard", "C003": "high_risk"}


def test_a_per_customer_override_placed_after_a_matching_rule_does_not_win_first_match_wins(tmp_path):
    shipped = default_policy_path().read_text(encoding="utf-8")
    late = shipped.replace("  - scenario: standard", '  - when: {customers: ["C002"]}\n    scenario: standard\n'
                                                       "  - scenario: standard")
    chosen = choose_scenario(load_policy(write(tmp_path, late)), customers(("C002", "PME", False, "critical")))
    assert chosen.to_dict() == {"C002": "high_risk"}


def test_rule_conditions_combine_with_and_and_list_values_with_or(tmp_path):
    policy = load_policy(write(tmp_path, dedent("""\
        scenarios:
          - id: small_business
            steps:
              - {id: call, offset_days: 5, channel: call, template: call/collection_call, tone: friendly}
          - id: standard
            steps:
              - {id: reminder_1, offset_days: 3, channel: email, template: email/reminder_1, tone: friendly}
        rules:
          - when: {segment: [TPE, PME], risk_class: [medium]}
            scenario: small_business
          - scenario: standard
        """)))
    chosen = choose_scenario(policy, customers(
        ("A", "TPE", False, "medium"), ("B", "PME", False, "medium"),
        ("C", "PME", False, "low"), ("D", "GE", False, "medium")))
    assert chosen.to_dict() == {"A": "small_business", "B": "small_business", "C": "standard", "D": "standard"}


def test_choose_scenario_on_no_customers_is_empty_and_on_missing_columns_says_which():
    policy = load_policy(default_policy_path())
    assert choose_scenario(policy, customers()).empty
    with pytest.raises(ValueError, match="risk_class"):
        choose_scenario(policy, pd.DataFrame({"customer_id": ["C1"], "segment": ["PME"], "strategic": [False]}))


def test_step_conditions_select_customers_like_rules_do(tmp_path):
    text = MINIMAL.replace("tone: friendly", "tone: friendly\n        conditions: {segment: [TPE], strategic: false}")
    step = load_policy(write(tmp_path, text)).scenario("standard").step("reminder_1")
    mask = step.conditions.mask(customers(("A", "TPE", False, "low"), ("B", "TPE", True, "low"),
                                          ("C", "PME", False, "low"), ("D", "TPE", None, "low")))
    assert mask.tolist() == [True, False, False, False]   # an unknown strategic flag matches neither value
