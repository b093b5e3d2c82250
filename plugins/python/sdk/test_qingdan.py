"""Unit tests of the Python SDK, natively: ``python3 -m unittest`` here.

The batch loop is tested against stand-ins for the types componentize-py
generates (``wit_world.exports.types``): same class names and fields.
"""

import sys
import types as modules
import unittest
from dataclasses import dataclass

import qingdan
from qingdan import Ability, Assistance, Benefit, Lines, Living, Person


def _fake_wit_types():
    t = modules.ModuleType("wit_world.exports.types")

    def record(name, *fields):
        cls = dataclass(type(name, (), {"__annotations__": {f: object for f in fields}}))
        setattr(t, name, cls)

    record("Quota", "count", "months")
    record("OneOff", "fixed", "percent", "cap")
    record("Voucher", "percent", "monthly_cap")
    for case in ("MonthlyCash", "Quota", "OneOff", "Voucher"):
        record(f"Benefit_{case}", "value")
    record("Benefit_Right")
    record("Line", "item", "benefit")
    record("Batch", "baselines", "persons", "baseline_of")
    record("BatchAnswers", "answers", "outcomes", "errors")
    package = modules.ModuleType("wit_world")
    exports = modules.ModuleType("wit_world.exports")
    exports.types = t
    package.exports = exports
    sys.modules.update({"wit_world": package, "wit_world.exports": exports, "wit_world.exports.types": t})
    return t


T = _fake_wit_types()


class PersonTests(unittest.TestCase):
    def test_domain_indices_count_age_first_and_veteran_last(self):
        self.assertEqual(Person.from_index(0), Person.aged(60))
        veteran = Person.from_index(1)
        self.assertTrue(veteran.veteran_entitled)
        self.assertFalse(veteran.family_planning_special)
        last = Person.from_index(qingdan.DOMAIN_SIZE - 1)
        self.assertEqual((last.age, last.hukou, last.ability, last.assistance, last.disability, last.living), (120, 1, 5, 4, 4, 15))
        self.assertTrue(last.family_planning_special and last.veteran_entitled)
        self.assertEqual(Person.from_index(19_200), Person.aged(61))
        self.assertRaises(ValueError, Person.from_index, qingdan.DOMAIN_SIZE)

    def test_fields_round_trip_through_the_index(self):
        p = Person(age=77, ability=Ability.SEVERE, assistance=Assistance.DIBAO, living=Living.ALONE | Living.LEFT_BEHIND, veteran_entitled=True)
        self.assertEqual(Person.from_index(p.index), p)
        self.assertEqual(p.replace(age=78).age, 78)
        self.assertTrue(p.is_disabled() and p.is_dibao_or_tekun() and p.age_in(70, 79))
        self.assertFalse(Person.aged(90).ability_at_least(Ability.INTACT))
        self.assertRaises(ValueError, Person, age=59)


class BenefitTests(unittest.TestCase):
    def test_covers_is_the_floor_order(self):
        self.assertTrue(Benefit.covers(Benefit.quota(1, 12), Benefit.quota(1, 24)))
        self.assertFalse(Benefit.covers(Benefit.quota(1, 24), Benefit.quota(1, 12)))
        self.assertFalse(Benefit.covers(Benefit.cash_yuan(1), Benefit.right()))
        self.assertEqual(Benefit.join(Benefit.voucher(50, 80), Benefit.voucher(30, 100)), Benefit.voucher(50, 100))

    def test_lines_never_lower_with_at_least(self):
        lines = Lines([(1, Benefit.cash_fen(10_000)), (40_000, Benefit.right())])
        lines.at_least(1, Benefit.cash_fen(7_000))
        self.assertEqual(lines.cash_fen(1), 10_000)
        lines.plus_cash_yuan(1, 20)
        self.assertEqual(lines.cash_fen(1), 12_000)
        self.assertEqual(lines.host_lines(), [(40_000, Benefit.right())])
        self.assertEqual(lines.remove(1), Benefit.cash_fen(12_000))
        self.assertEqual(len(lines), 1)


def _rules(person, lines):
    if person.age >= 80:
        lines.at_least(1, Benefit.quota(1, 12))
    if person.assistance == Assistance.TEKUN and person.living & Living.ALONE:
        lines.add(100, Benefit.cash_yuan(50))
    if person.veteran_entitled and person.age == 120:
        raise ValueError("no rule for this person")


class BatchTests(unittest.TestCase):
    def test_the_batch_answers_every_person_as_evaluate_does(self):
        baselines = [[], [T.Line(40_000, T.Benefit_MonthlyCash(6_000)), T.Line(1, T.Benefit_Quota(T.Quota(1, 24)))]]
        persons = list(range(0, qingdan.DOMAIN_SIZE, 37)) + [qingdan.DOMAIN_SIZE - 1]
        baseline_of = [p % 2 for p in persons]
        answers = qingdan._evaluate_batch(_rules, T.Batch(baselines, persons, baseline_of))
        errors = dict(answers.errors)
        self.assertEqual(len(answers.outcomes), len(persons))
        for i, (index, base) in enumerate(zip(persons, baseline_of)):
            lines = Lines(qingdan._from_wit(T, line) for line in baselines[base])
            try:
                _rules(Person.from_index(index), lines)
            except ValueError as e:
                self.assertEqual(errors[i], f"ValueError: {e}")
                continue
            self.assertNotIn(i, errors)
            got = [qingdan._from_wit(T, line) for line in answers.answers[answers.outcomes[i]]]
            self.assertEqual(got, lines.as_list())
        # Interned: a handful of distinct answers for thousands of persons.
        self.assertLess(len(answers.answers), 10)

    def test_bad_indices_are_errors(self):
        persons = [0, qingdan.DOMAIN_SIZE, qingdan.DOMAIN_SIZE + 1, 0, 5]
        answers = qingdan._evaluate_batch(_rules, T.Batch([[]], persons, [0, 0, 0, 1]))
        self.assertEqual([i for i, _ in answers.errors], [1, 2, 3, 4])
        self.assertIn("not in the domain", answers.errors[0][1])
        self.assertIn("baseline index 1 is out of range", answers.errors[2][1])
        self.assertIn("no baseline index", answers.errors[3][1])


if __name__ == "__main__":
    unittest.main()
