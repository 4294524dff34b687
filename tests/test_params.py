from __future__ import annotations

import pytest

from engine.errors import ParameterError
from engine.params import ParameterSpec, parse_assignments


def test_int_out_of_range_names_the_field_and_the_range():
    spec = ParameterSpec(name="epochs", type="int", default=1, min=1, max=500)
    with pytest.raises(
        ParameterError, match=r"epochs: 0 is out of range; allowed: an integer >= 1 and <= 500"
    ):
        spec.parse("0")


def test_exclusive_bounds_are_enforced():
    spec = ParameterSpec(
        name="f", type="float", default=0.5, min=0, max=1, min_exclusive=True, max_exclusive=True
    )
    assert spec.parse("0.999") == 0.999
    for bad in ("0", "1"):
        with pytest.raises(ParameterError, match="> 0 and < 1"):
            spec.parse(bad)


def test_non_numbers_and_choices_are_refused_with_what_is_allowed():
    with pytest.raises(ParameterError, match="'abc' is not valid; allowed: a number"):
        ParameterSpec(name="lr", type="float", default=1.0).parse("abc")
    with pytest.raises(ParameterError, match="allowed: one of a, b"):
        ParameterSpec(name="c", type="choice", default="a", choices=["a", "b"]).parse("z")


def test_int_list_parses_comma_separated_values():
    spec = ParameterSpec(name="milestones", type="int_list", default=[], min=1)
    assert spec.parse("10, 20,30") == [10, 20, 30]
    with pytest.raises(ParameterError):
        spec.parse("10, x")


def test_assignments_need_known_names_and_the_equals_sign():
    specs = [ParameterSpec(name="a", type="int", default=1)]
    assert parse_assignments(specs, ["a=3"], kind="domain") == {"a": 3}
    with pytest.raises(ParameterError, match="unknown domain parameter; known: a"):
        parse_assignments(specs, ["b=1"], kind="domain")
    with pytest.raises(ParameterError, match="expected NAME=VALUE"):
        parse_assignments(specs, ["a"], kind="domain")
